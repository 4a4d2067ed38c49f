/*  The rank engine in-process: rankings against a plain sorted array, the
    calendar of the lists, trending decay over simulated days, the epoch
    move, and a rebuild that equals the live standings. */
#include "rank/ledger.h"
#include "rank/ranking.h"
#include "rank/standings.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL

/* ==== ranking ==== */

static int s_by_number (uint32_t a, uint32_t b, void *arg)
{
    (void)arg;
    return a < b ? -1 : a > b;
}

static ranking_order_t s_model_order;

//  The order a ranking promises, written out plainly.
static int s_model_compare (const void *x, const void *y)
{
    const ranking_entry_t *a = x, *b = y;
    if (s_model_order == RANKING_BY_UPVOTES && a->upvotes != b->upvotes)
        return a->upvotes > b->upvotes ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->upvotes != b->upvotes)
        return a->upvotes > b->upvotes ? -1 : 1;
    return s_by_number (a->paper, b->paper, NULL);
}

static void s_expect_model (ranking_t *ranking, ranking_entry_t *model, size_t count)
{
    qsort (model, count, sizeof *model, s_model_compare);
    cr_assert_eq (ranking_count (ranking), count);
    ranking_entry_t *read = malloc ((count + 1) * sizeof *read);
    cr_assert_eq (ranking_page (ranking, 0, count + 10, read), count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq (read[i].paper, model[i].paper, "position %zu: paper %u, expected %u", i,
                      read[i].paper, model[i].paper);
    //  Pages from any offset agree with the whole.
    for (size_t offset = 0; offset < count; offset += 397) {
        ranking_entry_t page[50];
        size_t got = ranking_page (ranking, offset, 50, page);
        cr_assert_eq (got, count - offset < 50 ? count - offset : 50);
        for (size_t i = 0; i < got; i++)
            cr_assert_eq (page[i].paper, model[offset + i].paper);
    }
    free (read);
}

static void s_random_operations (ranking_order_t order)
{
    enum { PAPERS = 6000, STEPS = 40000 };
    s_model_order = order;
    ranking_t *ranking = ranking_new (order, s_by_number, NULL);
    ranking_entry_t *current = calloc (PAPERS, sizeof *current);
    bool *present = calloc (PAPERS, sizeof *present);
    srand (7);
    for (int step = 0; step < STEPS; step++) {
        uint32_t paper = (uint32_t)(rand () % PAPERS);
        if (present[paper]) {
            cr_assert_eq (ranking_remove (ranking, current[paper]), 0, "step %d", step);
            present[paper] = false;
            if (rand () % 4 == 0)
                continue; //  gone for now
        }
        //  Few distinct keys: many ties, as on a quiet day.
        current[paper] =
            (ranking_entry_t){(double)(rand () % 5) * 0.25, (uint32_t)(rand () % 4), paper};
        ranking_insert (ranking, current[paper]);
        present[paper] = true;
    }
    //  Removing what is not there changes nothing.
    cr_assert_eq (ranking_remove (ranking, (ranking_entry_t){99, 99, PAPERS + 1}), -1);
    ranking_entry_t *model = calloc (PAPERS, sizeof *model);
    size_t count = 0;
    for (uint32_t p = 0; p < PAPERS; p++)
        if (present[p])
            model[count++] = current[p];
    s_expect_model (ranking, model, count);
    //  A fill from the same entries, in any order, is the same list.
    ranking_t *filled = ranking_new (order, s_by_number, NULL);
    ranking_fill (filled, model, count);
    s_expect_model (filled, model, count);
    ranking_destroy (&filled);
    ranking_destroy (&ranking);
    cr_assert_null (ranking);
    free (model);
    free (current);
    free (present);
}

Test (ranking, by_upvotes_matches_a_sorted_array_under_random_changes)
{
    s_random_operations (RANKING_BY_UPVOTES);
}

Test (ranking, by_score_matches_a_sorted_array_under_random_changes)
{
    s_random_operations (RANKING_BY_SCORE);
}

Test (ranking, counts_the_papers_above_a_score)
{
    ranking_t *ranking = ranking_new (RANKING_BY_SCORE, s_by_number, NULL);
    for (uint32_t p = 0; p < 3000; p++)
        ranking_insert (ranking, (ranking_entry_t){(double)p / 100.0, 0, p});
    cr_assert_eq (ranking_count_scored (ranking, 10.0), 2000); //  10.00 .. 29.99
    cr_assert_eq (ranking_count_scored (ranking, 0.0), 3000);
    cr_assert_eq (ranking_count_scored (ranking, 100.0), 0);
    ranking_destroy (&ranking);
}

/* ==== the calendar ==== */

static int32_t s_day (const char *text)
{
    int year, month, day;
    cr_assert_eq (sscanf (text, "%d-%d-%d", &year, &month, &day), 3);
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day};
    return (int32_t)(timegm (&tm) / 86400);
}

static void s_expect_window (standings_window_t window, const char *day, const char *first,
                             const char *last)
{
    int32_t from, to;
    standings_window_days (window, s_day (day), &from, &to);
    cr_assert_eq (from, s_day (first), "window of %s starts on %s", day, first);
    cr_assert_eq (to, s_day (last), "window of %s ends on %s", day, last);
}

Test (standings, weeks_are_iso_weeks_and_months_calendar_months)
{
    s_expect_window (WINDOW_DAY, "2026-05-21", "2026-05-21", "2026-05-21");
    //  2027-01-01 is a Friday in ISO week 2026-W53.
    s_expect_window (WINDOW_WEEK, "2027-01-01", "2026-12-28", "2027-01-03");
    s_expect_window (WINDOW_WEEK, "2027-01-03", "2026-12-28", "2027-01-03");
    s_expect_window (WINDOW_WEEK, "2027-01-04", "2027-01-04", "2027-01-10");
    s_expect_window (WINDOW_WEEK, "1970-01-01", "1969-12-29", "1970-01-04");
    s_expect_window (WINDOW_MONTH, "2026-12-31", "2026-12-01", "2026-12-31");
    s_expect_window (WINDOW_MONTH, "2028-02-10", "2028-02-01", "2028-02-29");
    s_expect_window (WINDOW_MONTH, "2027-02-28", "2027-02-01", "2027-02-28");
    s_expect_window (WINDOW_MONTH, "2026-04-30", "2026-04-01", "2026-04-30");
}

/* ==== standings ==== */

static const int64_t T0 = 1798761600000LL; //  2027-01-01T00:00:00Z

//  The ids of WINDOW's list holding DAY, joined with spaces.
static void s_list (standings_t *standings, standings_window_t window, const char *day, int64_t now,
                    char *out, size_t size)
{
    standings_hit_t hits[100];
    standings_page_t page;
    standings_top (standings, window, day ? s_day (day) : 0, 0, 100, now, hits, &page);
    out[0] = '\0';
    for (size_t i = 0; i < page.count; i++) {
        size_t used = strlen (out);
        snprintf (out + used, size - used, "%s%s", used ? " " : "",
                  standings_id (standings, hits[i].paper));
    }
}

Test (standings, lists_hold_the_papers_of_their_window_by_upvotes)
{
    standings_t *standings = standings_new (DAY_MS, T0);
    uint32_t a = standings_list_paper (standings, "a", s_day ("2026-12-31"));
    uint32_t b = standings_list_paper (standings, "b", s_day ("2027-01-01"));
    uint32_t c = standings_list_paper (standings, "c", s_day ("2027-01-01"));
    standings_list_paper (standings, "d", s_day ("2027-01-04"));
    standings_vote (standings, c, true, T0);
    standings_vote (standings, c, true, T0);
    standings_vote (standings, a, true, T0);
    standings_vote (standings, b, true, T0 - DAY_MS); //  as many votes as a, but older
    char list[256];
    s_list (standings, WINDOW_DAY, "2027-01-01", T0, list, sizeof list);
    cr_assert_str_eq (list, "c b");
    s_list (standings, WINDOW_WEEK, "2027-01-01", T0, list, sizeof list);
    cr_assert_str_eq (list, "c a b"); //  a ties b on upvotes, and is hotter
    s_list (standings, WINDOW_MONTH, "2026-12-05", T0, list, sizeof list);
    cr_assert_str_eq (list, "a");
    s_list (standings, WINDOW_WEEK, "2027-01-05", T0, list, sizeof list);
    cr_assert_str_eq (list, "d"); //  no votes, still listed
    s_list (standings, WINDOW_DAY, "2027-01-02", T0, list, sizeof list);
    cr_assert_str_eq (list, "");
    //  A paper listed again on another day moves.
    standings_list_paper (standings, "c", s_day ("2027-01-04"));
    s_list (standings, WINDOW_DAY, "2027-01-01", T0, list, sizeof list);
    cr_assert_str_eq (list, "b");
    s_list (standings, WINDOW_WEEK, "2027-01-05", T0, list, sizeof list);
    cr_assert_str_eq (list, "c d");
    //  Withdrawn votes count down; never below zero.
    standings_vote (standings, c, false, T0);
    standings_vote (standings, c, false, T0);
    standings_vote (standings, c, false, T0);
    cr_assert_eq (standings_upvotes (standings, c), 0);
    cr_assert_eq (standings_score (standings, c, T0), 0.0);
    s_list (standings, WINDOW_WEEK, "2027-01-05", T0, list, sizeof list);
    cr_assert_str_eq (list, "c d"); //  ties by id
    standings_destroy (&standings);
    cr_assert_null (standings);
}

Test (standings, trending_decays_with_the_half_life_over_simulated_days)
{
    standings_t *standings = standings_new (DAY_MS, T0);
    uint32_t old = standings_list_paper (standings, "old", s_day ("2027-01-01"));
    uint32_t fresh = standings_list_paper (standings, "fresh", s_day ("2027-01-01"));
    for (int i = 0; i < 3; i++)
        standings_vote (standings, old, true, T0);
    char list[256];
    //  An hour in, three votes beat none.
    s_list (standings, WINDOW_TRENDING, NULL, T0 + HOUR_MS, list, sizeof list);
    cr_assert_str_eq (list, "old");
    cr_assert_float_eq (standings_score (standings, old, T0 + HOUR_MS), 3 * exp2 (-1.0 / 24),
                        1e-12);
    standings_vote (standings, fresh, true, T0 + 2 * DAY_MS);
    //  Two days in, three votes are worth 3/4 and the new one 1.
    s_list (standings, WINDOW_TRENDING, NULL, T0 + 2 * DAY_MS, list, sizeof list);
    cr_assert_str_eq (list, "fresh old");
    cr_assert_float_eq (standings_score (standings, old, T0 + 2 * DAY_MS), 0.75, 1e-12);
    cr_assert_float_eq (standings_score (standings, fresh, T0 + 2 * DAY_MS), 1.0, 1e-12);
    //  The order does not change with time alone, only the scores.
    s_list (standings, WINDOW_TRENDING, NULL, T0 + 5 * DAY_MS, list, sizeof list);
    cr_assert_str_eq (list, "fresh old");
    cr_assert_float_eq (standings_score (standings, fresh, T0 + 5 * DAY_MS), 0.125, 1e-12);
    //  Below the floor (0.01: about 6.6 half-lives) a paper leaves trending,
    //  but keeps its upvotes in its day's list.
    standings_hit_t hits[10];
    standings_page_t page;
    standings_top (standings, WINDOW_TRENDING, 0, 0, 10, T0 + 8 * DAY_MS + 12 * HOUR_MS, hits,
                   &page);
    cr_assert_eq (page.total, 1); //  fresh is at 2^-6.5 = 0.011, old at 3 * 2^-8.5 = 0.008
    cr_assert_str_eq (standings_id (standings, hits[0].paper), "fresh");
    standings_top (standings, WINDOW_TRENDING, 0, 0, 10, T0 + 7 * DAY_MS, hits, &page);
    cr_assert_eq (page.total, 2);
    standings_top (standings, WINDOW_TRENDING, 0, 0, 10, T0 + 30 * DAY_MS, hits, &page);
    cr_assert_eq (page.total, 0);
    s_list (standings, WINDOW_DAY, "2027-01-01", T0 + 30 * DAY_MS, list, sizeof list);
    cr_assert_str_eq (list, "old fresh");
    standings_destroy (&standings);
}

Test (standings, signals_add_their_weighted_gain_when_it_came)
{
    standings_t *standings = standings_new (DAY_MS, T0);
    uint32_t voted = standings_list_paper (standings, "voted", s_day ("2027-01-01"));
    uint32_t starred = standings_list_paper (standings, "starred", s_day ("2027-01-01"));
    standings_vote (standings, voted, true, T0);
    standings_signal (standings, starred, 0.1 * 15, T0 - DAY_MS); //  15 stars, weight 0.1
    cr_assert_float_eq (standings_score (standings, starred, T0), 0.75, 1e-12);
    char list[256];
    s_list (standings, WINDOW_TRENDING, NULL, T0, list, sizeof list);
    cr_assert_str_eq (list, "voted starred");
    standings_signal (standings, starred, 0.0, T0); //  no gain, no change
    standings_signal (standings, starred, 0.1 * 5, T0);
    s_list (standings, WINDOW_TRENDING, NULL, T0, list, sizeof list);
    cr_assert_str_eq (list, "starred voted");
    cr_assert_eq (standings_upvotes (standings, starred), 0); //  signals are not upvotes
    standings_destroy (&standings);
}

Test (standings, a_long_half_life_keeps_the_first_epoch)
{
    //  A year's half-life: now is less than 512 half-lives after 1970, so
    //  the epoch is 0; querying must not move it (and sort every list) again.
    standings_t *standings = standings_new (365 * DAY_MS, T0);
    cr_assert_eq (standings_epoch (standings), 0);
    uint32_t paper = standings_list_paper (standings, "a", s_day ("2027-01-01"));
    standings_vote (standings, paper, true, T0);
    double score = standings_score (standings, paper, T0);
    standings_advance (standings, T0 + DAY_MS);
    cr_assert_eq (standings_epoch (standings), 0);
    cr_assert_float_eq (standings_score (standings, paper, T0), score, 1e-15);
    standings_destroy (&standings);
}

Test (standings, a_weight_is_exact_across_epochs)
{
    //  One epoch later, a weight is the same bits times 2^-512.
    standings_t *early = standings_new (1000, 0);
    standings_t *late = standings_new (1000, 512000);
    cr_assert_eq (standings_epoch (late), 512000);
    for (int64_t t = 500000; t < 520000; t += 777)
        cr_assert_eq (standings_weight (late, t), ldexp (standings_weight (early, t), -512),
                      "t %lld", (long long)t);
    standings_destroy (&early);
    standings_destroy (&late);
}

Test (standings, moving_the_epoch_keeps_scores_and_order)
{
    //  A one-second half-life: the epoch moves every 512 seconds.
    const int64_t half_life = 1000;
    standings_t *standings = standings_new (half_life, T0);
    int64_t epoch = standings_epoch (standings);
    uint32_t papers[20];
    for (int p = 0; p < 20; p++) {
        char id[16];
        snprintf (id, sizeof id, "p%02d", p);
        papers[p] = standings_list_paper (standings, id, s_day ("2027-01-01"));
        for (int v = 0; v <= p % 5; v++)
            standings_vote (standings, papers[p], true, epoch + 500000 + p * 300);
    }
    char before[512], after[512];
    int64_t now = epoch + 510000;
    s_list (standings, WINDOW_TRENDING, NULL, now, before, sizeof before);
    double score = standings_score (standings, papers[7], now);
    standings_advance (standings, epoch + 515000);
    cr_assert_gt (standings_epoch (standings), epoch);
    s_list (standings, WINDOW_TRENDING, NULL, now, after, sizeof after);
    cr_assert_str_eq (after, before);
    cr_assert_float_eq (standings_score (standings, papers[7], now), score, score * 1e-12);
    //  A vote after the move lands where it would have without it.
    standings_vote (standings, papers[0], true, epoch + 515000);
    cr_assert_float_eq (standings_score (standings, papers[0], epoch + 515000), 1 + exp2 (-15.0),
                        1e-12);
    standings_destroy (&standings);
}

Test (standings, a_rebuild_from_totals_equals_the_live_standings)
{
    enum { PAPERS = 300, EVENTS = 5000 };
    standings_t *live = standings_new (DAY_MS, T0);
    static uint32_t votes_of[PAPERS];
    static double heat_of[PAPERS], signal_of[PAPERS];
    static int64_t cast_at[PAPERS][64];
    srand (11);
    char id[32];
    for (int p = 0; p < PAPERS; p++) {
        snprintf (id, sizeof id, "2701.%05d", p);
        standings_list_paper (live, id, s_day ("2027-01-01") + p % 40);
    }
    for (int e = 0; e < EVENTS; e++) {
        uint32_t paper = (uint32_t)(rand () % PAPERS);
        int64_t at = T0 + (int64_t)(rand () % (10 * 24)) * HOUR_MS;
        int kind = rand () % 10;
        if (kind < 6 && votes_of[paper] < 64) {
            standings_vote (live, paper, true, at);
            cast_at[paper][votes_of[paper]++] = at;
        } else if (kind < 9 && votes_of[paper]) {
            //  Withdraw the newest vote: the live sum subtracts it.
            int64_t when = cast_at[paper][--votes_of[paper]];
            standings_vote (live, paper, false, when);
        } else {
            standings_signal (live, paper, 0.5 * 3, at);
            signal_of[paper] += 0.5 * 3 * standings_weight (live, at);
        }
    }
    //  The rebuild sums what is stored, as the loader's SQL does.
    standings_t *rebuilt = standings_new (DAY_MS, T0);
    standings_load_begin (rebuilt);
    for (int p = 0; p < PAPERS; p++) {
        snprintf (id, sizeof id, "2701.%05d", p);
        uint32_t paper = standings_list_paper (rebuilt, id, s_day ("2027-01-01") + p % 40);
        heat_of[p] = 0;
        for (uint32_t v = 0; v < votes_of[p]; v++)
            heat_of[p] += standings_weight (rebuilt, cast_at[p][v]);
        standings_load (rebuilt, paper, votes_of[p], heat_of[p]);
        standings_load_signal (rebuilt, paper, signal_of[p]);
    }
    standings_load_end (rebuilt);
    int64_t now = T0 + 10 * DAY_MS;
    static const standings_window_t windows[] = {WINDOW_DAY, WINDOW_WEEK, WINDOW_MONTH,
                                                 WINDOW_TRENDING};
    for (int w = 0; w < 4; w++)
        for (int32_t day = s_day ("2027-01-01"); day < s_day ("2027-01-01") + 40; day += 3) {
            standings_hit_t a[100], b[100];
            standings_page_t page_a, page_b;
            standings_top (live, windows[w], day, 0, 100, now, a, &page_a);
            standings_top (rebuilt, windows[w], day, 0, 100, now, b, &page_b);
            cr_assert_eq (page_a.total, page_b.total, "window %d day %d", w, day);
            for (size_t i = 0; i < page_a.count; i++) {
                cr_assert_str_eq (standings_id (live, a[i].paper),
                                  standings_id (rebuilt, b[i].paper), "window %d day %d hit %zu", w,
                                  day, i);
                cr_assert_eq (a[i].upvotes, b[i].upvotes);
                cr_assert_float_eq (a[i].score, b[i].score, 1e-9 * (1 + a[i].score));
            }
        }
    standings_destroy (&live);
    standings_destroy (&rebuilt);
}

Test (standings, a_withdrawn_vote_leaves_no_trace_in_the_order)
{
    //  Two papers with one vote each, cast together: a tie, ordered by id.
    //  One of them also had a vote cast and withdrawn, which leaves rounding
    //  dust in its float sum; a rebuilt worker never saw that vote. Both
    //  must still order the two alike.
    standings_t *live = standings_new (DAY_MS, T0);
    uint32_t b = standings_list_paper (live, "b", s_day ("2027-01-01"));
    uint32_t a = standings_list_paper (live, "a", s_day ("2027-01-01"));
    for (int64_t dust = 1; dust < 2000; dust += 37) {
        standings_vote (live, b, true, T0 + 5 * HOUR_MS + dust);
        standings_vote (live, b, true, T0 + 7 * HOUR_MS);
        standings_vote (live, a, true, T0 + 7 * HOUR_MS);
        standings_vote (live, b, false, T0 + 5 * HOUR_MS + dust);
        char list[64];
        s_list (live, WINDOW_TRENDING, NULL, T0 + 8 * HOUR_MS, list, sizeof list);
        cr_assert_str_eq (list, "a b", "dust %lld", (long long)dust);
        standings_vote (live, b, false, T0 + 7 * HOUR_MS);
        standings_vote (live, a, false, T0 + 7 * HOUR_MS);
    }
    standings_destroy (&live);
}

/* ==== signal weights ==== */

Test (ledger, signal_weights_are_read_and_checked)
{
    char error[256];
    ledger_weights_t *weights = ledger_weights_new ("hf=1,github=0.05,*=0.1", error, sizeof error);
    cr_assert_not_null (weights, "%s", error);
    cr_assert_float_eq (ledger_weight (weights, "hf"), 1.0, 1e-12);
    cr_assert_float_eq (ledger_weight (weights, "github"), 0.05, 1e-12);
    cr_assert_float_eq (ledger_weight (weights, "mastodon"), 0.1, 1e-12);
    ledger_weights_destroy (&weights);
    weights = ledger_weights_new ("hf=1", error, sizeof error);
    cr_assert_float_eq (ledger_weight (weights, "github"), 0.0, 1e-12); //  unnamed: nothing
    ledger_weights_destroy (&weights);
    const char *bad[] = {"hf",    "hf=",    "=1",   "hf=-1",       "hf=2000",
                         "hf=1x", "hf=nan", "HF=1", " github=0.1", "git hub=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null (ledger_weights_new (bad[i], error, sizeof error), "%s", bad[i]);
        cr_assert (strstr (error, "source=weight"), "%s: %s", bad[i], error);
    }
    cr_assert_null (ledger_weights_new ("hf=1,github=2,hf=3", error, sizeof error));
    cr_assert_str_eq (error, "source 'hf' is given twice");
    cr_assert_null (ledger_weights_new ("*=1,hf=2,*=3", error, sizeof error));
    cr_assert_str_eq (error, "source '*' is given twice");
    cr_assert_null (ledger_weights_new ("hf=abc", error, sizeof error));
    cr_assert (strstr (error, "'hf=abc' is not source=weight"), "%s", error);
}
