/*  message — composing notify's mails. See message.h. */
#include "message.h"

#include "pb_paper.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QP_LINE_MAX    76 //  RFC 2045: encoded lines of at most 76 characters
#define WORD_BYTES_MAX 45 //  UTF-8 bytes per encoded word: 60 base64 characters, 75 in all

/* ==== The buffer ==== */

void message_reset (message_t *message)
{
    message->size = 0;
    if (message->data)
        message->data[0] = 0;
}

void message_free (message_t *message)
{
    free (message->data);
    *message = (message_t){0};
}

static int s_append (message_t *message, const char *data, size_t size)
{
    if (message->size + size + 1 > message->capacity) {
        size_t capacity = message->capacity ? message->capacity : 4096;
        while (capacity < message->size + size + 1)
            capacity *= 2;
        char *grown = realloc (message->data, capacity);
        if (!grown)
            return -1;
        message->data = grown;
        message->capacity = capacity;
    }
    memcpy (message->data + message->size, data, size);
    message->size += size;
    message->data[message->size] = 0;
    return 0;
}

static int s_text (message_t *message, const char *text)
{
    return s_append (message, text, strlen (text));
}

static int s_format (message_t *message, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int s_format (message_t *message, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    int length = vasprintf (&text, format, args);
    va_end (args);
    if (length < 0)
        return -1;
    int rc = s_append (message, text, (size_t)length);
    free (text);
    return rc;
}

/* ==== Encodings ==== */

int message_append_quoted_printable (message_t *message, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t column = 0;
    const unsigned char *at = (const unsigned char *)text;
    while (*at) {
        if (*at == '\n') {
            if (s_append (message, "\r\n", 2))
                return -1;
            column = 0;
            at++;
            continue;
        }
        if (*at == '\r') { //  line ends are ours to write
            at++;
            continue;
        }
        char token[3];
        size_t length = 1;
        bool line_end = at[1] == 0 || at[1] == '\n' || at[1] == '\r';
        //  Literal: printable ASCII but '='; a space or tab unless it ends
        //  the line (trailing white space may be stripped on the way); and
        //  not the F of a line starting "From ", which mbox files mangle.
        bool literal =
            (*at >= 33 && *at <= 126 && *at != '=') || ((*at == ' ' || *at == '\t') && !line_end);
        if (column == 0 && *at == 'F' && strncmp ((const char *)at, "From ", 5) == 0)
            literal = false;
        if (column == 0 && *at == '.') //  a lone dot would end SMTP DATA on a relay that
            literal = false;           //  does not stuff dots
        if (literal)
            token[0] = (char)*at;
        else {
            token[0] = '=';
            token[1] = hex[*at >> 4];
            token[2] = hex[*at & 15];
            length = 3;
        }
        //  Room for a soft break ("=") must remain unless this token ends
        //  the line.
        size_t limit = line_end ? QP_LINE_MAX : QP_LINE_MAX - 1;
        if (column + length > limit) {
            if (s_append (message, "=\r\n", 3))
                return -1;
            column = 0;
        }
        if (s_append (message, token, length))
            return -1;
        column += length;
        at++;
    }
    return 0;
}

static bool s_plain_ascii (const char *text)
{
    for (const unsigned char *at = (const unsigned char *)text; *at; at++)
        if (*at < 32 || *at > 126)
            return false;
    return true;
}

//  Bytes of the UTF-8 sequence starting with LEAD (1 for a stray byte).
static size_t s_utf8_length (unsigned char lead)
{
    return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

int message_append_header (message_t *message, const char *name, const char *value)
{
    if (s_text (message, name) || s_text (message, ":"))
        return -1;
    size_t column = strlen (name) + 1;
    if (s_plain_ascii (value)) {
        //  Fold at spaces before 78 characters.
        const char *at = value;
        while (*at) {
            const char *word_end = strchr (at + 1, ' ');
            size_t word = word_end ? (size_t)(word_end - at) : strlen (at);
            if (column + 1 + word > 78 && column > strlen (name) + 1) {
                if (s_text (message, "\r\n"))
                    return -1;
                column = 0;
            }
            if (at == value && s_text (message, " "))
                return -1;
            if (s_append (message, at, word))
                return -1;
            column += word + (at == value);
            at += word;
        }
        return s_text (message, "\r\n");
    }
    //  Encoded words of whole UTF-8 characters, one per folded line, each
    //  line at most 76 characters (RFC 2047); a control character (none
    //  should get here) becomes a space.
    size_t length = strlen (value);
    size_t start = 0;
    while (start < length) {
        //  The line holds the column, "=?UTF-8?B?", the base64 and "?=".
        size_t room = QP_LINE_MAX - (start == 0 ? column + 1 : 1) - 12;
        size_t bytes = room / 4 * 3 < WORD_BYTES_MAX ? room / 4 * 3 : WORD_BYTES_MAX;
        size_t end = start;
        while (end < length) {
            size_t next = end + s_utf8_length ((unsigned char)value[end]);
            if (next > length || next - start > bytes)
                break;
            end = next;
        }
        if (end == start) //  a truncated sequence at the end
            end = length;
        unsigned char chunk[WORD_BYTES_MAX + 4];
        size_t chunk_size = end - start;
        memcpy (chunk, value + start, chunk_size);
        for (size_t i = 0; i < chunk_size; i++)
            if (chunk[i] < 32 || chunk[i] == 127)
                chunk[i] = ' ';
        char
            encoded[sodium_base64_ENCODED_LEN (WORD_BYTES_MAX + 4, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64 (encoded, sizeof encoded, chunk, chunk_size,
                           sodium_base64_VARIANT_ORIGINAL);
        if (s_format (message, "%s=?UTF-8?B?%s?=", start == 0 ? " " : "\r\n ", encoded))
            return -1;
        start = end;
    }
    return s_text (message, "\r\n");
}

//  Appends TEXT with the five HTML specials escaped.
static int s_html (message_t *message, const char *text)
{
    const char *run = text;
    for (const char *at = text;; at++) {
        const char *entity = NULL;
        switch (*at) {
        case '&':
            entity = "&amp;";
            break;
        case '<':
            entity = "&lt;";
            break;
        case '>':
            entity = "&gt;";
            break;
        case '"':
            entity = "&quot;";
            break;
        case '\'':
            entity = "&#39;";
            break;
        case 0:
            return s_append (message, run, (size_t)(at - run));
        default:
            continue;
        }
        if (s_append (message, run, (size_t)(at - run)) || s_text (message, entity))
            return -1;
        run = at + 1;
    }
}

//  Appends TEXT percent-encoded for a URL path segment or query value.
static int s_url_part (message_t *message, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *at = (const unsigned char *)text; *at; at++) {
        bool unreserved = (*at >= 'a' && *at <= 'z') || (*at >= 'A' && *at <= 'Z') ||
                          (*at >= '0' && *at <= '9') || strchr ("-._~", *at);
        char escaped[3] = {'%', hex[*at >> 4], hex[*at & 15]};
        if (unreserved ? s_append (message, (const char *)at, 1) : s_append (message, escaped, 3))
            return -1;
    }
    return 0;
}

/* ==== Addresses ==== */

//  Why ADDRESS is not one paperbus mails, or NULL. A single-label domain
//  ("localhost") is allowed only when NEED_DOT is false: for the sender.
static const char *s_address_problem (const char *address, bool need_dot)
{
    const char *why = NULL;
    size_t length = strlen (address);
    const char *at_sign = strrchr (address, '@');
    if (length == 0)
        why = "the address is empty";
    else if (length > MESSAGE_ADDRESS_MAX)
        why = "the address is longer than 254 bytes";
    else if (!at_sign || strchr (address, '@') != at_sign)
        why = "an address has exactly one @";
    else if (at_sign == address)
        why = "the part before @ is empty";
    else if (at_sign - address > 64)
        why = "the part before @ is longer than 64 bytes";
    for (const char *c = address; !why && c < at_sign; c++) {
        bool dot = *c == '.';
        if (dot && (c == address || c + 1 == at_sign || c[1] == '.'))
            why = "dots in the part before @ must separate words";
        else if (!dot && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                           (*c >= '0' && *c <= '9') || (*c && strchr ("!#$%&'*+/=?^_`{|}~-", *c))))
            why = "the part before @ holds a character addresses cannot have (spaces, quotes, "
                  "control characters and non-ASCII letters are refused)";
    }
    if (!why) {
        const char *domain = at_sign + 1;
        size_t labels = 0, label_length = 0;
        bool last_all_digits = true;
        for (const char *c = domain;; c++) {
            if (*c == '.' || *c == 0) {
                if (label_length == 0 || label_length > 63 || c[-1] == '-') {
                    why = "the domain must be names of 1 to 63 letters, digits or inner hyphens, "
                          "separated by dots";
                    break;
                }
                labels++;
                if (*c == 0)
                    break;
                label_length = 0;
                last_all_digits = true;
                continue;
            }
            bool letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
            bool digit = *c >= '0' && *c <= '9';
            if (!letter && !digit && !(*c == '-' && label_length > 0)) {
                why = "the domain must be names of 1 to 63 letters, digits or inner hyphens, "
                      "separated by dots";
                break;
            }
            last_all_digits = last_all_digits && digit;
            label_length++;
        }
        if (!why && need_dot && labels < 2)
            why = "the domain needs a dot (user@example.org)";
        else if (!why && last_all_digits)
            why = "the domain ends in a number; addresses at bare IP addresses are not mailed";
    }
    return why;
}

bool message_address_valid (const char *address, const char **problem)
{
    const char *why = s_address_problem (address, true);
    if (problem)
        *problem = why;
    return why == NULL;
}

bool message_sender_valid (const char *sender, char address[MESSAGE_ADDRESS_MAX + 1])
{
    const char *open = strchr (sender, '<');
    const char *start = sender, *end = sender + strlen (sender);
    if (open) {
        const char *close = strchr (open, '>');
        if (!close || close[1] != 0)
            return false;
        for (const unsigned char *c = (const unsigned char *)sender;
             c < (const unsigned char *)open; c++)
            if (*c < 32 || *c == '"' || *c == 127)
                return false;
        start = open + 1;
        end = close;
    }
    if (end - start > MESSAGE_ADDRESS_MAX)
        return false;
    memcpy (address, start, (size_t)(end - start));
    address[end - start] = 0;
    return s_address_problem (address, false) == NULL;
}

/* ==== Shared parts ==== */

//  The From header: the name (an encoded word when not plain ASCII, else
//  quoted) and the address.
static int s_from (message_t *message, const char *from)
{
    char address[MESSAGE_ADDRESS_MAX + 1];
    if (!message_sender_valid (from, address))
        return -1;
    const char *open = strchr (from, '<');
    if (!open)
        return s_format (message, "From: %s\r\n", address);
    size_t name_length = (size_t)(open - from);
    while (name_length && from[name_length - 1] == ' ')
        name_length--;
    char *name = strndup (from, name_length);
    if (!name)
        return -1;
    int rc;
    if (!*name)
        rc = s_format (message, "From: %s\r\n", address);
    else if (s_plain_ascii (name))
        rc = s_format (message, "From: \"%s\" <%s>\r\n", name, address);
    else {
        char encoded[sodium_base64_ENCODED_LEN (256, sodium_base64_VARIANT_ORIGINAL)];
        rc = name_length > 180 ? -1 : 0;
        if (rc == 0) {
            sodium_bin2base64 (encoded, sizeof encoded, (const unsigned char *)name, name_length,
                               sodium_base64_VARIANT_ORIGINAL);
            rc = s_format (message, "From: =?UTF-8?B?%s?= <%s>\r\n", encoded, address);
        }
    }
    free (name);
    return rc;
}

static int s_date (message_t *message, int64_t date_ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t seconds = (time_t)(date_ms / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    return s_format (message, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                     tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
}

//  The boundary between the parts: random, so no text can contain it.
static void s_boundary (char boundary[40])
{
    unsigned char bytes[12];
    randombytes_buf (bytes, sizeof bytes);
    char hex[25];
    sodium_bin2hex (hex, sizeof hex, bytes, sizeof bytes);
    snprintf (boundary, 40, "=_paperbus_%s", hex);
}

//  The headers every mail has, up to and including the Content-Type of the
//  multipart body, and then its first boundary and the text part's headers.
static int s_open (message_t *message, const char *from, const char *to, const char *message_id,
                   int64_t date_ms, const char *subject, const char *extra_headers,
                   const char *boundary)
{
    if (s_from (message, from) || s_format (message, "To: %s\r\n", to) ||
        message_append_header (message, "Subject", subject) || s_date (message, date_ms) ||
        s_format (message, "Message-ID: %s\r\n", message_id) || s_text (message, extra_headers))
        return -1;
    return s_format (message,
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: multipart/alternative; boundary=\"%s\"\r\n"
                     "\r\n"
                     "This is a message in the MIME format: a text part and an HTML part.\r\n"
                     "\r\n"
                     "--%s\r\n"
                     "Content-Type: text/plain; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n"
                     "\r\n",
                     boundary, boundary);
}

static int s_html_part (message_t *message, const char *boundary)
{
    return s_format (message,
                     "\r\n--%s\r\n"
                     "Content-Type: text/html; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n"
                     "\r\n",
                     boundary);
}

static int s_close (message_t *message, const char *boundary)
{
    return s_format (message, "\r\n--%s--\r\n", boundary);
}

//  Appends the link to paper ID on the web page.
static int s_paper_url (message_t *message, const char *public_url, const char *id)
{
    return s_text (message, public_url) || s_text (message, "/papers/") || s_url_part (message, id);
}

//  The parts of a mail while they are written, and its link.
typedef struct {
    message_t link;    //  the link the mail is about (unsubscribe, confirm)
    message_t text;    //  the text part, before encoding
    message_t html;    //  the HTML part, before encoding
    char boundary[40]; //  between the parts
} drafts_t;

//  Appends the drafts as the two parts of MESSAGE when WRITTEN (they were
//  written whole), and frees them. Returns 0, or -1.
static int s_drafts_finish (message_t *message, drafts_t *drafts, bool written)
{
    int rc = written && message_append_quoted_printable (message, drafts->text.data) == 0 &&
                     s_html_part (message, drafts->boundary) == 0 &&
                     message_append_quoted_printable (message, drafts->html.data) == 0 &&
                     s_close (message, drafts->boundary) == 0
                 ? 0
                 : -1;
    message_free (&drafts->link);
    message_free (&drafts->text);
    message_free (&drafts->html);
    return rc;
}

/* ==== The digest ==== */

//  Whether ID is an arXiv id, which has a page on arxiv.org.
static bool s_arxiv (const char *id)
{
    char canonical[PB_PAPER_ID_MAX + 1];
    int version;
    return pb_arxiv_id_parse (id, strlen (id), canonical, &version) == 0;
}

static const char s_html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width\"><title>paperbus</title></head>\n"
    "<body style=\"font-family:sans-serif;max-width:42em;margin:auto;color:#222\">\n";

static int s_text_papers (message_t *text, const char *heading, const message_paper_t *papers,
                          size_t count, const char *public_url)
{
    if (count == 0)
        return 0;
    if (s_format (text, "%s\n\n", heading))
        return -1;
    for (size_t i = 0; i < count; i++) {
        const message_paper_t *paper = &papers[i];
        const char *day = paper->published ? paper->published : "";
        const char *separator = *paper->categories && *day ? " | " : "";
        if (s_format (text, "%zu. %s\n   %s\n", i + 1, paper->title, paper->authors) ||
            ((*paper->categories || *day) &&
             s_format (text, "   %s%s%s\n", paper->categories, separator, day)) ||
            s_text (text, "   ") || s_paper_url (text, public_url, paper->id) ||
            s_text (text, "\n\n"))
            return -1;
    }
    return 0;
}

static int s_html_papers (message_t *html, const char *heading, const message_paper_t *papers,
                          size_t count, const char *public_url)
{
    if (count == 0)
        return 0;
    if (s_text (html, "<h2 style=\"font-size:1.2em\">") || s_html (html, heading) ||
        s_text (html, "</h2>\n<ol>\n"))
        return -1;
    for (size_t i = 0; i < count; i++) {
        const message_paper_t *paper = &papers[i];
        if (s_text (html, "<li style=\"margin-bottom:1em\"><a href=\"") ||
            s_paper_url (html, public_url, paper->id) ||
            s_text (html, "\" style=\"font-weight:bold\">") || s_html (html, paper->title) ||
            s_text (html, "</a><br>\n<span>") || s_html (html, paper->authors) ||
            s_text (html, "</span><br>\n<small>") || s_html (html, paper->categories) ||
            (paper->published && ((*paper->categories && s_text (html, " &middot; ")) ||
                                  s_html (html, paper->published))) ||
            (s_arxiv (paper->id) && (s_text (html, " &middot; <a href=\"https://arxiv.org/abs/") ||
                                     s_html (html, paper->id) || s_text (html, "\">arXiv</a>"))) ||
            s_text (html, "</small>"))
            return -1;
        if (paper->excerpt && *paper->excerpt &&
            (s_text (html, "<br>\n<span style=\"color:#555\">") || s_html (html, paper->excerpt) ||
             s_text (html, "</span>")))
            return -1;
        if (s_text (html, "</li>\n"))
            return -1;
    }
    return s_text (html, "</ol>\n");
}

//  The length of TEXT's longest prefix of whole UTF-8 characters that
//  fits in MAX bytes.
static int s_utf8_prefix (const char *text, size_t max)
{
    size_t length = strlen (text);
    if (length <= max)
        return (int)length;
    while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
        max--;
    return (int)max;
}

int message_compose_digest (message_t *message, const message_digest_t *digest)
{
    size_t total = digest->trending_count + digest->matching_count;
    const char *interest = digest->matching_count && digest->interest ? digest->interest : "";
    char subject[256];
    snprintf (subject, sizeof subject, "paperbus %s \u2014 %zu new paper%s%s%.*s",
              digest->weekly ? "weekly" : "daily", total, total == 1 ? "" : "s",
              *interest ? " " : "", s_utf8_prefix (interest, 120), interest);
    drafts_t drafts = {0};
    s_boundary (drafts.boundary);
    message_t *link = &drafts.link, *text = &drafts.text, *html = &drafts.html;
    if (s_text (link, digest->public_url) || s_text (link, "/api/unsubscribe?token=") ||
        s_url_part (link, digest->unsubscribe_token))
        return s_drafts_finish (message, &drafts, false);
    char *extra = NULL;
    if (asprintf (&extra,
                  "List-Unsubscribe: <%s>\r\n"
                  "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
                  "List-Id: paperbus digests <digests.paperbus>\r\n"
                  "Auto-Submitted: auto-generated\r\n",
                  link->data) < 0)
        return s_drafts_finish (message, &drafts, false);
    int opened = s_open (message, digest->from, digest->to, digest->message_id, digest->date_ms,
                         subject, extra, drafts.boundary);
    free (extra);

    const char *span = digest->weekly ? "the week of " : "";
    char matching_heading[160];
    snprintf (matching_heading, sizeof matching_heading, "New papers%s%.*s",
              digest->interest ? " " : "",
              digest->interest ? s_utf8_prefix (digest->interest, 140) : 0,
              digest->interest ? digest->interest : "");
    bool written =
        opened == 0 &&
        s_format (text, "Your paperbus digest for %s%s\n\n", span, digest->period) == 0 &&
        s_text_papers (text, "Trending now", digest->trending, digest->trending_count,
                       digest->public_url) == 0 &&
        s_text_papers (text, matching_heading, digest->matching, digest->matching_count,
                       digest->public_url) == 0 &&
        s_format (text,
                  "-- \nYou get this mail because %s subscribed to paperbus digests.\n"
                  "Unsubscribe with one click: %s\n",
                  digest->to, link->data) == 0 &&
        s_text (html, s_html_head) == 0 &&
        s_format (html, "<h1 style=\"font-size:1.4em\">Your paperbus digest for %s%s</h1>\n", span,
                  digest->period) == 0 &&
        s_html_papers (html, "Trending now", digest->trending, digest->trending_count,
                       digest->public_url) == 0 &&
        s_html_papers (html, matching_heading, digest->matching, digest->matching_count,
                       digest->public_url) == 0 &&
        s_text (html, "<hr>\n<p style=\"font-size:0.9em;color:#555\">You get this mail because ") ==
            0 &&
        s_html (html, digest->to) == 0 &&
        s_text (html, " subscribed to paperbus digests. <a href=\"") == 0 &&
        s_html (html, link->data) == 0 &&
        s_text (html, "\">Unsubscribe</a> with one click.</p>\n</body></html>\n") == 0;
    return s_drafts_finish (message, &drafts, written);
}

/* ==== The confirmation and the sign-in mail ==== */

//  When a link expires, EXPIRES_MS, in words ("2026-12-01 06:15 UTC").
static void s_expiry (char expires[32], int64_t expires_ms)
{
    time_t seconds = (time_t)(expires_ms / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (expires, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

int message_compose_confirmation (message_t *message, const message_confirmation_t *mail)
{
    drafts_t drafts = {0};
    s_boundary (drafts.boundary);
    message_t *link = &drafts.link, *text = &drafts.text, *html = &drafts.html;
    char expires[32];
    s_expiry (expires, mail->expires_ms);
    bool written =
        s_text (link, mail->public_url) == 0 &&
        s_text (link, "/api/subscriptions/confirm?token=") == 0 &&
        s_url_part (link, mail->token) == 0 &&
        s_open (message, mail->from, mail->to, mail->message_id, mail->date_ms,
                "Confirm your paperbus digest", "Auto-Submitted: auto-generated\r\n",
                drafts.boundary) == 0 &&
        s_format (text,
                  "Someone, probably you, asked for paperbus digests at %s: %s.\n\n"
                  "To confirm, open this link before %s:\n%s\n\n"
                  "Or run: paperctl confirm %s\n\n"
                  "If you did not ask for this, ignore this mail: nothing more will be sent.\n",
                  mail->to, mail->interest, expires, link->data, mail->token) == 0 &&
        s_text (html, s_html_head) == 0 &&
        s_text (html, "<p>Someone, probably you, asked for paperbus digests at ") == 0 &&
        s_html (html, mail->to) == 0 && s_text (html, ": ") == 0 &&
        s_html (html, mail->interest) == 0 && s_text (html, ".</p>\n<p><a href=\"") == 0 &&
        s_html (html, link->data) == 0 &&
        s_format (html, "\">Confirm the subscription</a> (before %s).</p>\n", expires) == 0 &&
        s_text (html, "<p style=\"color:#555\">If you did not ask for this, ignore this mail: "
                      "nothing more will be sent.</p>\n</body></html>\n") == 0;
    return s_drafts_finish (message, &drafts, written);
}

int message_compose_signin (message_t *message, const message_signin_t *mail)
{
    drafts_t drafts = {0};
    s_boundary (drafts.boundary);
    message_t *link = &drafts.link, *text = &drafts.text, *html = &drafts.html;
    char expires[32];
    s_expiry (expires, mail->expires_ms);
    //  The token shows only inside the link, so that the mail gives no
    //  second way to copy it, and the page behind the link spends it.
    bool written =
        s_text (link, mail->public_url) == 0 && s_text (link, "/signin?token=") == 0 &&
        s_url_part (link, mail->token) == 0 &&
        s_open (message, mail->from, mail->to, mail->message_id, mail->date_ms,
                "Sign in to paperbus", "Auto-Submitted: auto-generated\r\n",
                drafts.boundary) == 0 &&
        s_format (text,
                  "Someone, probably you, asked to sign in to paperbus as %s.\n\n"
                  "To sign in, open this link before %s (it works once):\n%s\n\n"
                  "If you did not ask for this, ignore this mail: nobody can sign in "
                  "without the link.\n",
                  mail->to, expires, link->data) == 0 &&
        s_text (html, s_html_head) == 0 &&
        s_text (html, "<p>Someone, probably you, asked to sign in to paperbus as ") == 0 &&
        s_html (html, mail->to) == 0 && s_text (html, ".</p>\n<p><a href=\"") == 0 &&
        s_html (html, link->data) == 0 &&
        s_format (html, "\">Sign in to paperbus</a> (before %s; the link works once).</p>\n",
                  expires) == 0 &&
        s_text (html, "<p style=\"color:#555\">If you did not ask for this, ignore this mail: "
                      "nobody can sign in without the link.</p>\n</body></html>\n") == 0;
    return s_drafts_finish (message, &drafts, written);
}
