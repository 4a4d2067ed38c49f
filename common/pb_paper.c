/*  pb_paper — identifiers, text and dates in one form. */
#include "pb_paper.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ==== arXiv identifiers ==== */

static bool s_digits (const char *text, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isdigit ((unsigned char)text[i]))
            return false;
    return true;
}

//  Strips the prefixes sources put before an id.
static void s_strip_prefix (const char **text, size_t *length)
{
    static const char *const prefixes[] = {"https://arxiv.org/abs/",
                                           "http://arxiv.org/abs/",
                                           "https://arxiv.org/pdf/",
                                           "http://arxiv.org/pdf/",
                                           "https://export.arxiv.org/abs/",
                                           "http://export.arxiv.org/abs/",
                                           "oai:arXiv.org:",
                                           "oai:arxiv.org:",
                                           "arXiv:",
                                           "arxiv:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t prefix = strlen (prefixes[i]);
        if (*length > prefix && strncmp (*text, prefixes[i], prefix) == 0) {
            *text += prefix;
            *length -= prefix;
            return;
        }
    }
}

int pb_arxiv_id_parse (const char *text, size_t length, char id[PB_PAPER_ID_MAX + 1], int *version)
{
    while (length && isspace ((unsigned char)*text))
        text++, length--;
    while (length && isspace ((unsigned char)text[length - 1]))
        length--;
    s_strip_prefix (&text, &length);
    //  A trailing version: v followed by digits.
    *version = 0;
    size_t base = length;
    for (size_t i = length; i > 0; i--) {
        if (!isdigit ((unsigned char)text[i - 1])) {
            if (text[i - 1] == 'v' && i < length && i > 1) {
                base = i - 1;
                //  The text is counted, not terminated: read only its digits.
                if (length - i > 5)
                    return -1;
                long parsed = 0;
                for (size_t d = i; d < length; d++)
                    parsed = parsed * 10 + (text[d] - '0');
                if (parsed < 1 || parsed > 10000)
                    return -1;
                *version = (int)parsed;
            }
            break;
        }
    }
    if (base == 0 || base > 64)
        return -1;
    const char *slash = memchr (text, '/', base);
    if (!slash) {
        //  New style: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015 on).
        if ((base != 9 && base != 10) || text[4] != '.' || !s_digits (text, 4) ||
            !s_digits (text + 5, base - 5))
            return -1;
        int month = (text[2] - '0') * 10 + (text[3] - '0');
        if (month < 1 || month > 12)
            return -1;
        //  Four-digit numbers from 0704 to 1412, five digits from 1501 on.
        int year_month = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + month;
        if ((base == 9 && (year_month < 704 || year_month > 1412)) ||
            (base == 10 && year_month < 1501))
            return -1;
    } else {
        //  Old style: archive(.SUBJECT)/YYMMNNN, as in "math.GT/0309136".
        size_t archive = (size_t)(slash - text);
        if (archive < 2 || base - archive - 1 != 7 || !s_digits (slash + 1, 7))
            return -1;
        size_t i = 0;
        while (i < archive && (islower ((unsigned char)text[i]) || text[i] == '-'))
            i++;
        if (i == 0 || !islower ((unsigned char)text[0]))
            return -1;
        if (i < archive) {
            if (text[i] != '.' || archive - i != 3 || !isupper ((unsigned char)text[i + 1]) ||
                !isupper ((unsigned char)text[i + 2]))
                return -1;
        }
    }
    memcpy (id, text, base);
    id[base] = '\0';
    return 0;
}

/* ==== Text ==== */

#define BYTES(b) (0x0101010101010101ULL * (b))

//  Marks (high bit) the bytes of WORD that are zero, and maybe some above
//  them: exact about whether there is one, conservative about where.
static uint64_t s_zero_bytes (uint64_t word)
{
    return (word - BYTES (0x01)) & ~word & BYTES (0x80);
}

//  True when the 8 bytes of WORD can be copied as they are after OUT: no
//  control character, and no space next to another or at the start of the
//  text. A space at the word's end is settled by the next word's check.
static bool s_plain_word (uint64_t word, const char *out, size_t used)
{
    uint64_t controls =
        ((word - BYTES (0x20)) & ~word & BYTES (0x80)) | s_zero_bytes (word ^ BYTES (0x7f));
    uint64_t spaces = s_zero_bytes (word ^ BYTES (0x20));
    bool leading_space = (word & 0xff) == ' ' && (used == 0 || out[used - 1] == ' ');
    return !controls && !(spaces & (spaces << 8)) && !leading_space;
}

char *pb_text_normalize (const char *text, size_t length)
{
    char *out = malloc (length + 1);
    if (!out)
        return NULL;
    size_t used = 0;
    bool pending_space = false;
    size_t i = 0;
    while (i < length) {
        //  Most text needs nothing done: eight bytes at a time, until a
        //  line break or a run of spaces needs the byte loop.
        uint64_t word;
        if (!pending_space && i + 8 <= length &&
            (memcpy (&word, text + i, 8), s_plain_word (word, out, used))) {
            memcpy (out + used, &word, 8);
            used += 8;
            i += 8;
            continue;
        }
        unsigned char c = (unsigned char)text[i++];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            pending_space = used > 0 && out[used - 1] != ' ';
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            continue; //  other control characters carry nothing
        if (pending_space) {
            out[used++] = ' ';
            pending_space = false;
        }
        out[used++] = (char)c;
    }
    //  A space copied with the last word ends the text: drop it.
    while (used && out[used - 1] == ' ')
        used--;
    out[used] = '\0';
    return out;
}

/* ==== Dates ==== */

static int s_month (const char *name)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncasecmp (name, months[i], 3) == 0)
            return i;
    return -1;
}

//  The zone names RFC 2822 allows besides numeric offsets.
static int s_zone_offset (const char *zone, int *minutes)
{
    static const struct {
        const char *name;
        int offset;
    } zones[] = {{"GMT", 0},       {"UTC", 0},       {"UT", 0},        {"Z", 0},
                 {"EST", -5 * 60}, {"EDT", -4 * 60}, {"CST", -6 * 60}, {"CDT", -5 * 60},
                 {"MST", -7 * 60}, {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60}};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        if (strcmp (zone, zones[i].name) == 0) {
            *minutes = zones[i].offset;
            return 0;
        }
    return -1;
}

static bool s_valid_tm (const struct tm *tm)
{
    return tm->tm_year >= 0 && tm->tm_year < 300 && tm->tm_mon >= 0 && tm->tm_mon < 12 &&
           tm->tm_mday >= 1 && tm->tm_mday <= 31 && tm->tm_hour >= 0 && tm->tm_hour < 24 &&
           tm->tm_min >= 0 && tm->tm_min < 60 && tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

int pb_date_parse (const char *text, int64_t *seconds)
{
    struct tm tm = {0};
    int offset_minutes = 0;
    int year, month, day, hour = 0, minute = 0, second = 0, used = 0;
    char zone[8] = "";
    while (isspace ((unsigned char)*text))
        text++;
    //  A bare year or year and month (oai_dc dates): the first day of it.
    size_t length = strlen (text);
    while (length && isspace ((unsigned char)text[length - 1]))
        length--;
    if ((length == 4 && s_digits (text, 4)) ||
        (length == 7 && s_digits (text, 4) && text[4] == '-' && s_digits (text + 5, 2))) {
        tm.tm_year = atoi (text) - 1900;
        tm.tm_mon = length == 7 ? atoi (text + 5) - 1 : 0;
        tm.tm_mday = 1;
        if (!s_valid_tm (&tm))
            return -1;
        *seconds = (int64_t)timegm (&tm);
        return 0;
    }
    if (sscanf (text, "%4d-%2d-%2d%n", &year, &month, &day, &used) == 3 && used == 10) {
        const char *rest = text + used;
        if (*rest == 'T' || *rest == ' ') {
            int more = 0;
            if (sscanf (rest + 1, "%2d:%2d:%2d%n", &hour, &minute, &second, &more) != 3)
                return -1;
            rest += 1 + more;
            if (*rest == '.')
                for (rest++; isdigit ((unsigned char)*rest); rest++)
                    ;
            if (*rest == 'Z' || *rest == 'z')
                rest++;
            else if (*rest == '+' || *rest == '-') {
                //  Exactly "+HH:MM": two digits each, within a day.
                if (!s_digits (rest + 1, 2) || rest[3] != ':' || !s_digits (rest + 4, 2))
                    return -1;
                int oh = (rest[1] - '0') * 10 + (rest[2] - '0');
                int om = (rest[4] - '0') * 10 + (rest[5] - '0');
                if (oh > 23 || om > 59)
                    return -1;
                offset_minutes = (oh * 60 + om) * (*rest == '+' ? 1 : -1);
                rest += 6;
            }
        }
        while (isspace ((unsigned char)*rest))
            rest++;
        if (*rest)
            return -1;
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
    } else {
        //  RFC 2822: [Day,] D Mon YYYY HH:MM:SS ZONE
        const char *rest = text;
        const char *comma = strchr (text, ',');
        if (comma)
            rest = comma + 1;
        char month_name[4];
        if (sscanf (rest, " %2d %3s %4d %2d:%2d:%2d %7s", &day, month_name, &year, &hour, &minute,
                    &second, zone) < 6)
            return -1;
        month = s_month (month_name);
        if (month < 0)
            return -1;
        if (zone[0] == '+' || zone[0] == '-') {
            if (strlen (zone) != 5 || !s_digits (zone + 1, 4))
                return -1;
            int value = atoi (zone + 1);
            if (value / 100 > 23 || value % 100 > 59)
                return -1;
            offset_minutes = (value / 100 * 60 + value % 100) * (zone[0] == '+' ? 1 : -1);
        } else if (zone[0] && s_zone_offset (zone, &offset_minutes))
            return -1;
        tm.tm_year = year - 1900;
        tm.tm_mon = month;
        tm.tm_mday = day;
    }
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    if (!s_valid_tm (&tm))
        return -1;
    //  timegm rolls 31 February over into March: a day must exist as given.
    struct tm given = tm;
    time_t utc = timegm (&tm);
    if (tm.tm_mday != given.tm_mday || tm.tm_mon != given.tm_mon)
        return -1;
    *seconds = (int64_t)utc - (int64_t)offset_minutes * 60;
    return 0;
}

void pb_date_format (int64_t seconds, char *out)
{
    time_t time = (time_t)seconds;
    struct tm tm;
    gmtime_r (&time, &tm);
    strftime (out, 32, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* ==== Stable ids ==== */

static uint64_t s_fnv1a (uint64_t hash, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= (uint64_t)tolower (*p);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

void pb_paper_stable_id (const char *doi, const char *title, const char *first_author,
                         char id[PB_PAPER_ID_MAX + 1])
{
    if (doi && *doi) {
        size_t used = (size_t)snprintf (id, PB_PAPER_ID_MAX + 1, "doi:");
        size_t length = strlen (doi);
        //  A DOI too long for an id keeps its start and a hash of all of it,
        //  so that two long DOIs sharing a prefix stay apart.
        size_t keep = used + length <= PB_PAPER_ID_MAX ? length : PB_PAPER_ID_MAX - used - 17;
        for (size_t i = 0; i < keep; i++)
            id[used++] = (char)tolower ((unsigned char)doi[i]);
        if (keep < length)
            used += (size_t)snprintf (id + used, PB_PAPER_ID_MAX + 1 - used, "~%016llx",
                                      (unsigned long long)s_fnv1a (0xcbf29ce484222325ULL, doi));
        id[used] = '\0';
        return;
    }
    uint64_t hash = s_fnv1a (0xcbf29ce484222325ULL, title);
    hash = s_fnv1a (hash ^ 0x1f, first_author ? first_author : "");
    snprintf (id, PB_PAPER_ID_MAX + 1, "t:%016llx", (unsigned long long)hash);
}

int pb_paper_id_from (const char *given, size_t length, char id[PB_PAPER_ID_MAX + 1])
{
    id[0] = '\0';
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)given[i] < 0x20 || given[i] == 0x7f)
            return -1;
    int version;
    if (!length)
        return -1;
    if (length <= PB_PAPER_ID_MAX && pb_arxiv_id_parse (given, length, id, &version) == 0)
        return 0;
    if (length > PB_PAPER_ID_MAX)
        length = PB_PAPER_ID_MAX;
    memcpy (id, given, length);
    id[length] = '\0';
    return 0;
}
