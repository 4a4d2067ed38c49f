/*  pb_paper: identifiers, text and dates, including the inputs that must be
    refused and counted strings that must never be read past. */
#include "paperbus.h"
#include "pb_paper.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

//  Parses TEXT from an exact-size heap copy (no NUL after it), so that
//  AddressSanitizer sees any read past the end.
static int s_parse_id (const char *text, char *id, int *version)
{
    size_t length = strlen (text);
    char *copy = malloc (length ? length : 1);
    memcpy (copy, text, length);
    int rc = pb_arxiv_id_parse (copy, length, id, version);
    free (copy);
    return rc;
}

Test (paper, arxiv_ids_in_every_spelling_are_understood)
{
    const char *cases[][3] = {
        {"2501.01234", "2501.01234", "0"},
        {"2501.01234v2", "2501.01234", "2"},
        {"http://arxiv.org/abs/2104.12255v1", "2104.12255", "1"},
        {"oai:arXiv.org:hep-th/9901001", "hep-th/9901001", "0"},
        {"arXiv:0704.0001v3", "0704.0001", "3"},
        {"math.GT/0309136v2", "math.GT/0309136", "2"},
        {" 2501.01234 ", "2501.01234", "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[PB_PAPER_ID_MAX + 1];
        int version;
        cr_assert_eq (s_parse_id (cases[i][0], id, &version), 0, "%s", cases[i][0]);
        cr_assert_str_eq (id, cases[i][1]);
        cr_assert_eq (version, atoi (cases[i][2]), "%s", cases[i][0]);
    }
}

Test (paper, things_that_are_not_arxiv_ids_are_refused)
{
    const char *bad[] = {"abc",         "2513.01234",        "2501.1",
                         "hep-th/99",   "not-an-id",         "",
                         "2501.01234v", "2501.01234v999999", "HEP-TH/9901001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char id[PB_PAPER_ID_MAX + 1];
        int version;
        cr_assert_eq (s_parse_id (bad[i], id, &version), -1, "'%s' accepted", bad[i]);
    }
}

Test (paper, text_is_collapsed_and_latex_kept)
{
    const char text[] = "  A $\\alpha$-stable\n  law\t with\r\n runs   of space \x01 ";
    char *normal = pb_text_normalize (text, sizeof text - 1);
    cr_assert_str_eq (normal, "A $\\alpha$-stable law with runs of space");
    free (normal);
}

//  The rule, one byte at a time: white space runs become one space, none
//  at either end; other control characters are dropped.
static char *s_reference_normalize (const char *text, size_t length)
{
    char *out = malloc (length + 1);
    size_t used = 0;
    bool pending_space = false;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (strchr (" \t\n\r\f\v", c) && c) {
            pending_space = used > 0;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            continue;
        if (pending_space)
            out[used++] = ' ';
        pending_space = false;
        out[used++] = (char)c;
    }
    out[used] = '\0';
    return out;
}

Test (paper, text_normalised_a_word_at_a_time_follows_the_byte_rule)
{
    //  Random texts over an alphabet dense in the cases the fast path must
    //  hand back: runs of spaces, line breaks, controls, UTF-8, at any offset.
    const char alphabet[] = "ab  \n\t\x01\x7f\xc3\xa9Z.";
    unsigned seed = 12345;
    for (int round = 0; round < 200000; round++) {
        char text[48] = "";
        seed = seed * 1103515245 + 12345;
        size_t length = (seed >> 16) % sizeof text;
        for (size_t i = 0; i < length; i++) {
            seed = seed * 1103515245 + 12345;
            text[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        char *expected = s_reference_normalize (text, length);
        char *normal = pb_text_normalize (text, length);
        cr_assert_str_eq (normal, expected, "round %d", round);
        free (normal);
        free (expected);
    }
}

Test (paper, dates_of_every_form_are_read_in_utc)
{
    const char *cases[][2] = {
        {"2021-04-20T16:07:14Z", "2021-04-20 16:07:14+00"},
        {"2021-04-20T18:07:14+02:00", "2021-04-20 16:07:14+00"},
        {"2021-04-20T16:07:14.123-01:30", "2021-04-20 17:37:14+00"},
        {"Mon, 2 Apr 2007 19:18:42 GMT", "2007-04-02 19:18:42+00"},
        {"Thu, 21 May 2026 00:00:00 -0400", "2026-05-21 04:00:00+00"},
        {"2026-05-21", "2026-05-21 00:00:00+00"},
        {"2010", "2010-01-01 00:00:00+00"},
        {"2010-06", "2010-06-01 00:00:00+00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t seconds;
        cr_assert_eq (pb_date_parse (cases[i][0], &seconds), 0, "%s", cases[i][0]);
        char out[32];
        pb_date_format (seconds, out);
        cr_assert_str_eq (out, cases[i][1], "%s", cases[i][0]);
    }
}

Test (paper, malformed_dates_are_refused_without_reading_past_them)
{
    //  Each on an exact-size heap copy: a parser that runs past the end of
    //  "+2:00" is caught by AddressSanitizer.
    const char *bad[] = {"yesterday",
                         "2021-04-20T16:07:14+2:00",
                         "2021-13-01",
                         "2021-04-20T16:07:14+",
                         "2021-04-20T25:00:00Z",
                         "Mon, 2 Foo 2007 19:18:42",
                         "2021-04-20T16:07:14+24:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t length = strlen (bad[i]);
        char *copy = malloc (length + 1);
        memcpy (copy, bad[i], length + 1);
        int64_t seconds;
        cr_assert_eq (pb_date_parse (copy, &seconds), -1, "'%s' accepted", bad[i]);
        free (copy);
    }
}

Test (paper, stable_ids_follow_doi_else_title_and_first_author)
{
    char a[PB_PAPER_ID_MAX + 1], b[PB_PAPER_ID_MAX + 1], c[PB_PAPER_ID_MAX + 1];
    pb_paper_stable_id ("10.1103/PhysRevD.76.013009", "T", "A", a);
    cr_assert_str_eq (a, "doi:10.1103/physrevd.76.013009");
    pb_paper_stable_id (NULL, "Sample Title", "John Doe", b);
    pb_paper_stable_id (NULL, "sample title", "JOHN DOE", c);
    cr_assert_str_eq (b, c, "case must not matter");
    cr_assert_eq (strncmp (b, "t:", 2), 0);
    pb_paper_stable_id (NULL, "Another Title", "John Doe", c);
    cr_assert_str_neq (b, c);
}

Test (paper, ids_must_have_the_shape_of_their_era_and_days_must_exist)
{
    char id[PB_PAPER_ID_MAX + 1];
    int version;
    cr_assert_eq (s_parse_id ("0704.0001", id, &version), 0);
    cr_assert_eq (s_parse_id ("1412.9999", id, &version), 0);
    cr_assert_eq (s_parse_id ("2501.0123", id, &version), -1, "4 digits after 2014");
    cr_assert_eq (s_parse_id ("0703.12345", id, &version), -1, "5 digits before 2015");
    cr_assert_eq (s_parse_id ("--/9901001", id, &version), -1);
    int64_t seconds;
    cr_assert_eq (pb_date_parse ("2021-02-31", &seconds), -1, "31 February");
    cr_assert_eq (pb_date_parse ("Wed, 31 Feb 2021 10:00:00 GMT", &seconds), -1);
    cr_assert_eq (pb_date_parse ("2024-02-29", &seconds), 0, "a leap day exists");
    cr_assert_eq (pb_date_parse ("Mon, 2 Apr 2007 15:18:42 EDT", &seconds), 0);
    char out[32];
    pb_date_format (seconds, out);
    cr_assert_str_eq (out, "2007-04-02 19:18:42+00");
    cr_assert_eq (pb_date_parse ("Mon, 2 Apr 2007 15:18:42 +99x9", &seconds), -1);
}

Test (paper, long_dois_keep_distinct_stable_ids)
{
    char prefix[200];
    memset (prefix, 'x', sizeof prefix);
    char doi_a[220], doi_b[220];
    snprintf (doi_a, sizeof doi_a, "10.1/%.150s-a", prefix);
    snprintf (doi_b, sizeof doi_b, "10.1/%.150s-b", prefix);
    char a[PB_PAPER_ID_MAX + 1], b[PB_PAPER_ID_MAX + 1];
    pb_paper_stable_id (doi_a, "T", "A", a);
    pb_paper_stable_id (doi_b, "T", "A", b);
    cr_assert_leq (strlen (a), PB_PAPER_ID_MAX);
    cr_assert_str_neq (a, b);
}
