/*  notify's mail, in-process: which addresses are mailed, quoted-printable
    and encoded-word headers decoded back by an independent decoder, the
    digest's headers, links and HTML escaping, the sign-in mail, API token
    labels, and the tokens of the confirmation and unsubscribe links. The whole message is also
   checked by a real MIME parser in the integration suite (tests/support/mailbox.py). */
#include "notify/accounts.h"
#include "notify/message.h"
#include "notify/subscriptions.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_setup (void)
{
    cr_assert_geq (sodium_init (), 0);
}

/* ==== Addresses ==== */

Test (notify, addresses_that_are_mailed_and_those_refused)
{
    static const char *const valid[] = {
        "ada@example.org",
        "a.b+tag@mail.example.co.uk",
        "x_y-z@a-b.example",
        "o'brien@example.ie",
        "1234@example.com",
        "a@b.cd",
        "!#$%&'*+/=?^_`{|}~-@example.org",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        const char *problem = NULL;
        cr_expect (message_address_valid (valid[i], &problem), "%s: %s", valid[i],
                   problem ? problem : "");
    }
    char long_local[80], long_address[400];
    memset (long_local, 'a', 65);
    strcpy (long_local + 65, "@example.org");
    memset (long_address, 'a', 10);
    long_address[10] = '@';
    for (int i = 0; i < 60; i++)
        memcpy (long_address + 11 + i * 5, "abcd.", 5);
    strcpy (long_address + 311, "org");
    static const char *const invalid[] = {
        "",
        "plain",
        "@example.org",
        "ada@",
        "ada@@example.org",
        "a@b@example.org",
        "ada lovelace@example.org",
        "\"ada\"@example.org",
        "ada@localhost",
        "ada@example..org",
        "ada@-example.org",
        "ada@example-.org",
        ".ada@example.org",
        "ada.@example.org",
        "a..b@example.org",
        "ada@192.168.0.1",
        "ada@[127.0.0.1]",
        "ada@example.org\r\nBcc: eve@evil.example",
        "ada@example.org\n",
        "ad\ta@example.org",
        "\xc3\xa9@example.org",
        "ada@ex\xc3\xa4mple.org",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        const char *problem = NULL;
        cr_expect_not (message_address_valid (invalid[i], &problem), "'%s' was accepted",
                       invalid[i]);
        cr_expect (problem && *problem, "no reason given for '%s'", invalid[i]);
    }
    cr_expect_not (message_address_valid (long_local, NULL), "a 65-byte local part");
    cr_expect_not (message_address_valid (long_address, NULL), "an address over 254 bytes");
}

Test (notify, sender_addresses)
{
    char address[MESSAGE_ADDRESS_MAX + 1];
    cr_expect (message_sender_valid ("paperbus <paperbus@localhost>", address));
    cr_expect_str_eq (address, "paperbus@localhost");
    cr_expect (message_sender_valid ("digest@papers.example.org", address));
    cr_expect_str_eq (address, "digest@papers.example.org");
    cr_expect (message_sender_valid ("Caf\xc3\xa9 des papiers <cafe@example.org>", address));
    cr_expect_not (message_sender_valid ("paperbus <a@example.org> trailing", address));
    cr_expect_not (message_sender_valid ("pa\"per <a@example.org>", address));
    cr_expect_not (message_sender_valid ("paper\r\nBcc: x@y.org <a@example.org>", address));
    cr_expect_not (message_sender_valid ("paperbus <a b@example.org>", address));
}

/* ==== Encodings, decoded independently ==== */

static int s_hex (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

//  Decodes quoted-printable ENCODED (RFC 2045) into a new string, with
//  CRLF line ends turned into \n, asserting the encoding's rules: lines of
//  at most 76 characters, printable ASCII only, no white space before a
//  line end, CRLF line ends.
static char *s_decode_quoted_printable (const char *encoded)
{
    char *decoded = malloc (strlen (encoded) + 1);
    size_t out = 0, column = 0;
    for (const char *at = encoded; *at;) {
        if (at[0] == '\r') {
            cr_assert_eq (at[1], '\n', "a CR without LF");
            cr_assert (out == 0 || (decoded[out - 1] != ' ' && decoded[out - 1] != '\t') ||
                           at[-1] != decoded[out - 1] || at[-1] == '=',
                       "white space before a line end");
            decoded[out++] = '\n';
            at += 2;
            column = 0;
            continue;
        }
        cr_assert_neq (*at, '\n', "a bare LF");
        cr_assert ((*at >= 32 && *at <= 126) || *at == '\t', "byte %d is not printable ASCII",
                   (unsigned char)*at);
        if (*at == '=') {
            if (at[1] == '\r' && at[2] == '\n') { //  a soft line break
                cr_assert_leq (column + 1, 76, "a line over 76 characters");
                at += 3;
                column = 0;
                continue;
            }
            int high = s_hex (at[1]), low = high < 0 ? -1 : s_hex (at[2]);
            cr_assert (high >= 0 && low >= 0, "a bad escape");
            decoded[out++] = (char)(high * 16 + low);
            at += 3;
            column += 3;
        } else {
            decoded[out++] = *at++;
            column++;
        }
        cr_assert_leq (column, 76, "a line over 76 characters");
    }
    decoded[out] = 0;
    return decoded;
}

Test (notify, quoted_printable_round_trips_with_short_lines, .init = s_setup)
{
    static const char *const texts[] = {
        "plain text\n",
        "a = sign, a tab\there, trailing space \nand trailing tab\t\n",
        "From the start of a line\n.a dot at the start of a line\n.\n",
        "Caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x93\x84 "
        "na\xc3\xafve\n",
        "",
        "no newline at the end",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        message_t message = {0};
        cr_assert_eq (message_append_quoted_printable (&message, texts[i]), 0);
        char *decoded = s_decode_quoted_printable (message.data ? message.data : "");
        cr_expect_str_eq (decoded, texts[i]);
        free (decoded);
        message_free (&message);
    }
    //  Long lines of every kind of byte.
    char text[4000];
    size_t length = 0;
    for (int line = 0; line < 20; line++) {
        for (int i = 0; i < 150; i++) {
            unsigned char byte = (unsigned char)randombytes_uniform (256);
            text[length++] = byte == 0 || byte == '\r' || byte == '\n' ? 'x' : (char)byte;
        }
        text[length++] = '\n';
    }
    text[length] = 0;
    message_t message = {0};
    cr_assert_eq (message_append_quoted_printable (&message, text), 0);
    char *decoded = s_decode_quoted_printable (message.data);
    cr_expect_str_eq (decoded, text);
    free (decoded);
    message_free (&message);
}

//  Decodes the value of the header in MESSAGE (NAME: ...), unfolding lines
//  and decoding =?UTF-8?B?...?= words, asserting each word is at most 75
//  characters and each line at most 78.
static char *s_decode_header (const char *message, const char *name)
{
    size_t name_length = strlen (name);
    cr_assert (strncmp (message, name, name_length) == 0 && message[name_length] == ':');
    const char *at = message + name_length + 1;
    if (strncmp (at, " =?", 3) != 0 && *at == ' ')
        at++; //  the space after the colon is not part of a plain value
    char *decoded = calloc (1, 1024);
    size_t out = 0;
    size_t line_start = 0;
    for (;;) {
        const char *end = strstr (at, "\r\n");
        cr_assert (end);
        cr_assert_leq ((size_t)(end - at) + (line_start == 0 ? name_length + 1 : 0), 78,
                       "a header line over 78 characters");
        const char *word = at;
        while (word < end) {
            if (strncmp (word, " =?UTF-8?B?", 11) == 0 || strncmp (word, "=?UTF-8?B?", 10) == 0) {
                const char *start = word + (word[0] == ' ' ? 11 : 10);
                const char *close = strstr (start, "?=");
                cr_assert (close && close <= end);
                cr_assert_leq ((size_t)(close + 2 - (start - 10)), 75, "an encoded word over 75");
                size_t size = 0;
                cr_assert_eq (sodium_base642bin ((unsigned char *)decoded + out, 1023 - out, start,
                                                 (size_t)(close - start), NULL, &size, NULL,
                                                 sodium_base64_VARIANT_ORIGINAL),
                              0);
                out += size;
                word = close + 2;
            } else
                decoded[out++] = *word++;
        }
        line_start++;
        if (end[2] != ' ' && end[2] != '\t')
            break;
        at = end + 2;
        if (out > 0 && decoded[out - 1] != ' ' && strncmp (at, " =?", 3) != 0)
            decoded[out++] = ' '; //  folding white space of a plain header
        if (strncmp (at, " =?", 3) != 0)
            at++;
    }
    decoded[out] = 0;
    return decoded;
}

Test (notify, headers_are_encoded_words_when_not_plain_ascii, .init = s_setup)
{
    static const char *const values[] = {
        "paperbus daily \xe2\x80\x94 12 new papers on \xe2\x80\x9c"
        "diffusion\xe2\x80\x9d",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe8\xab\x96\xe6\x96\x87\xe3\x81\xae"
        "\xe3\x83\x80\xe3\x82\xa4\xe3\x82\xb8\xe3\x82\xa7\xe3\x82\xb9\xe3\x83\x88\xe3\x80\x81"
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe8\xab\x96\xe6\x96\x87\xf0\x9f\x93\x84",
        "plain ascii subject",
        "a long plain subject that goes on and on past the seventy-eight characters a header "
        "line should hold, so that it must be folded",
    };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        message_t message = {0};
        cr_assert_eq (message_append_header (&message, "Subject", values[i]), 0);
        char *decoded = s_decode_header (message.data, "Subject");
        cr_expect_str_eq (decoded, values[i]);
        free (decoded);
        message_free (&message);
    }
    //  CR and LF cannot reach a header: they become spaces inside a word.
    message_t message = {0};
    cr_assert_eq (
        message_append_header (&message, "Subject", "caf\xc3\xa9\r\nBcc: eve@evil.example"), 0);
    char *decoded = s_decode_header (message.data, "Subject");
    cr_expect_str_eq (decoded, "caf\xc3\xa9  Bcc: eve@evil.example");
    cr_expect_null (strstr (message.data, "\nBcc"));
    free (decoded);
    message_free (&message);
}

/* ==== The digest ==== */

static const message_paper_t s_papers[] = {
    {.id = "2410.12345",
     .title = "<script>alert(\"x\")</script> & Friends",
     .authors = "Ada Lovelace, Alan Turing et al.",
     .categories = "cs.LG, cs.AI",
     .published = "2024-10-25",
     .excerpt = "We show that a < b & c > d."},
    {.id = "hep-th/9901001",
     .title = "Stringy \xc3\xa9t\xc3\xa9",
     .authors = "Edward Witten",
     .categories = "hep-th",
     .published = NULL,
     .excerpt = NULL},
};

Test (notify, a_digest_has_its_headers_links_and_escaped_html, .init = s_setup)
{
    message_digest_t digest = {
        .from = "paperbus <digest@papers.example.org>",
        .to = "ada@example.org",
        .message_id = "<paperbus.digest.7.abc@papers.example.org>",
        .date_ms = 1764288000000LL,
        .public_url = "https://papers.example.org",
        .unsubscribe_token = "7.SIGNATURE_-x",
        .period = "2025-11-28",
        .interest = "on \xe2\x80\x9c"
                    "diffusion\xe2\x80\x9d in cs.LG",
        .trending = &s_papers[1],
        .trending_count = 1,
        .matching = &s_papers[0],
        .matching_count = 1,
    };
    message_t message = {0};
    cr_assert_eq (message_compose_digest (&message, &digest), 0);
    const char *text = message.data;
    cr_expect (strstr (text, "From: \"paperbus\" <digest@papers.example.org>\r\n"));
    cr_expect (strstr (text, "To: ada@example.org\r\n"));
    cr_expect (strstr (text, "Date: Fri, 28 Nov 2025 00:00:00 +0000\r\n"));
    cr_expect (strstr (text, "Message-ID: <paperbus.digest.7.abc@papers.example.org>\r\n"));
    cr_expect (strstr (text,
                       "List-Unsubscribe: "
                       "<https://papers.example.org/api/unsubscribe?token=7.SIGNATURE_-x>\r\n"));
    cr_expect (strstr (text, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
    cr_expect (strstr (text, "MIME-Version: 1.0\r\n"));
    cr_expect (strstr (text, "Content-Type: multipart/alternative; boundary="));
    cr_expect (strstr (text, "Content-Type: text/plain; charset=UTF-8\r\n"));
    cr_expect (strstr (text, "Content-Type: text/html; charset=UTF-8\r\n"));
    //  The subject names the count and the interest.
    const char *subject = strstr (text, "Subject:");
    cr_assert (subject);
    char *decoded = s_decode_header (subject, "Subject");
    cr_expect_str_eq (decoded, "paperbus daily \xe2\x80\x94 2 new papers on \xe2\x80\x9c"
                               "diffusion\xe2\x80\x9d in cs.LG");
    free (decoded);
    //  The two parts, decoded.
    const char *plain = strstr (text, "quoted-printable\r\n\r\n");
    cr_assert (plain);
    const char *html = strstr (plain + 1, "quoted-printable\r\n\r\n");
    cr_assert (html);
    char *boundary_end = strstr (plain, "\r\n--=_paperbus_");
    char *plain_part = strndup (plain + 20, (size_t)(boundary_end - plain - 20));
    char *plain_text = s_decode_quoted_printable (plain_part);
    const char *html_end = strstr (html, "\r\n--=_paperbus_");
    char *html_part = strndup (html + 20, (size_t)(html_end - html - 20));
    char *html_text = s_decode_quoted_printable (html_part);
    cr_expect (strstr (plain_text, "<script>alert(\"x\")</script> & Friends"),
               "the text part shows the title as it is");
    cr_expect (strstr (plain_text, "https://papers.example.org/papers/2410.12345"));
    cr_expect (strstr (plain_text, "https://papers.example.org/papers/hep-th%2F9901001"));
    cr_expect (strstr (plain_text,
                       "Unsubscribe with one click: "
                       "https://papers.example.org/api/unsubscribe?token=7.SIGNATURE_-x"));
    cr_expect (
        strstr (html_text, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Friends"));
    cr_expect_null (strstr (html_text, "<script"), "a title reached the HTML unescaped");
    cr_expect (strstr (html_text, "We show that a &lt; b &amp; c &gt; d."));
    cr_expect (strstr (html_text, "href=\"https://arxiv.org/abs/2410.12345\""));
    cr_expect (strstr (html_text, "href=\"https://papers.example.org/papers/2410.12345\""));
    cr_expect (strstr (html_text, "Stringy \xc3\xa9t\xc3\xa9"));
    cr_expect_null (strstr (html_text, "<img"), "no images");
    cr_expect_null (strstr (html_text, "src="), "nothing loaded from elsewhere");
    //  Trending first, then the matching papers under their heading.
    char *trending = strstr (plain_text, "Trending now");
    char *matching = strstr (plain_text, "New papers on \xe2\x80\x9c"
                                         "diffusion");
    cr_expect (trending && matching && trending < matching);
    free (plain_part);
    free (plain_text);
    free (html_part);
    free (html_text);
    message_free (&message);
}

Test (notify, a_confirmation_holds_the_link_and_no_unsubscribe_header, .init = s_setup)
{
    message_confirmation_t mail = {
        .from = "paperbus@papers.example.org",
        .to = "ada@example.org",
        .message_id = "<paperbus.confirm.1.abc@papers.example.org>",
        .date_ms = 1764288000000LL,
        .public_url = "https://papers.example.org",
        .token = "TOKEN_abc-123",
        .interest = "daily digests of the trending top 10",
        .expires_ms = 1764460800000LL,
    };
    message_t message = {0};
    cr_assert_eq (message_compose_confirmation (&message, &mail), 0);
    cr_expect (strstr (message.data, "Subject: Confirm your paperbus digest\r\n"));
    cr_expect_null (strstr (message.data, "List-Unsubscribe"));
    const char *plain = strstr (message.data, "quoted-printable\r\n\r\n");
    cr_assert (plain);
    char *part = strndup (plain + 20, (size_t)(strstr (plain, "\r\n--=_paperbus_") - plain - 20));
    char *decoded = s_decode_quoted_printable (part);
    free (part);
    cr_expect (strstr (decoded, "https://papers.example.org/api/subscriptions/confirm?token="
                                "TOKEN_abc-123"));
    cr_expect (strstr (decoded, "paperctl confirm TOKEN_abc-123"));
    cr_expect (strstr (decoded, "2025-11-30 00:00 UTC"));
    free (decoded);
    message_free (&message);
}

//  The decoded text of the part of MESSAGE after its INDEX-th (0, 1)
//  quoted-printable header block, up to the next boundary. Caller frees.
static char *s_part (const char *message, int index)
{
    const char *at = message;
    for (int i = 0; i <= index; i++) {
        at = strstr (at, "quoted-printable\r\n\r\n");
        cr_assert (at, "the message has no part %d", index);
        at += 20;
    }
    const char *end = strstr (at, "\r\n--=_paperbus_");
    cr_assert (end);
    char *encoded = strndup (at, (size_t)(end - at));
    char *decoded = s_decode_quoted_printable (encoded);
    free (encoded);
    return decoded;
}

//  How many times NEEDLE is in HAYSTACK.
static size_t s_occurrences (const char *haystack, const char *needle)
{
    size_t count = 0;
    for (const char *at = strstr (haystack, needle); at; at = strstr (at + 1, needle))
        count++;
    return count;
}

Test (notify, a_signin_mail_holds_its_token_only_in_the_link, .init = s_setup)
{
    char token[SUBSCRIPTIONS_TOKEN_MAX];
    unsigned char hash[32];
    subscriptions_token_new (token, hash);
    message_signin_t mail = {
        .from = "paperbus <paperbus@papers.example.org>",
        .to = "ada@example.org",
        .message_id = "<paperbus.signin.9.abc@papers.example.org>",
        .date_ms = 1764288000000LL,
        .public_url = "https://papers.example.org",
        .token = token,
        .expires_ms = 1764288900000LL,
    };
    message_t message = {0};
    cr_assert_eq (message_compose_signin (&message, &mail), 0);
    //  Headers: plain, the subject as asked, no unsubscribe (not a list).
    const char *body = strstr (message.data, "\r\n\r\n");
    cr_assert (body);
    char *headers = strndup (message.data, (size_t)(body - message.data) + 2);
    cr_expect (strstr (headers, "From: \"paperbus\" <paperbus@papers.example.org>\r\n"));
    cr_expect (strstr (headers, "To: ada@example.org\r\n"));
    cr_expect (strstr (headers, "Subject: Sign in to paperbus\r\n"));
    cr_expect (strstr (headers, "Date: Fri, 28 Nov 2025 00:00:00 +0000\r\n"));
    cr_expect (strstr (headers, "Message-ID: <paperbus.signin.9.abc@papers.example.org>\r\n"));
    cr_expect (strstr (headers, "Auto-Submitted: auto-generated\r\n"));
    cr_expect (strstr (headers, "Content-Type: multipart/alternative; boundary="));
    cr_expect_null (strstr (headers, "List-Unsubscribe"));
    cr_expect_null (strstr (headers, token), "the token is in a header");
    for (const char *c = headers; *c; c++)
        cr_assert (*c == '\r' || *c == '\n' || (*c >= 32 && *c < 127), "a header holds byte %d",
                   (unsigned char)*c);
    free (headers);
    //  Each part holds the token once, in the link, with the expiry.
    char link[200];
    snprintf (link, sizeof link, "https://papers.example.org/signin?token=%s", token);
    char *text = s_part (message.data, 0);
    char *html = s_part (message.data, 1);
    cr_expect (strstr (text, "Sign in to paperbus") || strstr (text, "sign in to paperbus"));
    cr_expect (strstr (html, ">Sign in to paperbus</a>"));
    cr_expect_eq (s_occurrences (text, token), 1, "the text part: %s", text);
    cr_expect_eq (s_occurrences (text, link), 1, "the text part lacks %s", link);
    cr_expect_eq (s_occurrences (html, token), 1, "the HTML part: %s", html);
    char href[240];
    snprintf (href, sizeof href, "<a href=\"%s\">", link);
    cr_expect_eq (s_occurrences (html, href), 1, "the HTML part lacks %s", href);
    cr_expect (strstr (text, "2025-11-28 00:15 UTC"), "the text part does not say when it expires");
    cr_expect (strstr (html, "2025-11-28 00:15 UTC"), "the HTML part does not say when it expires");
    cr_expect (strstr (text, "ada@example.org"));
    free (text);
    free (html);
    message_free (&message);

    //  A token with characters that mean something in a URL is
    //  percent-encoded, so that the link carries it whole.
    mail.token = "a+b/c=d&e f";
    cr_assert_eq (message_compose_signin (&message, &mail), 0);
    text = s_part (message.data, 0);
    html = s_part (message.data, 1);
    cr_expect (strstr (text, "https://papers.example.org/signin?token=a%2Bb%2Fc%3Dd%26e%20f\n"),
               "%s", text);
    cr_expect (
        strstr (html, "href=\"https://papers.example.org/signin?token=a%2Bb%2Fc%3Dd%26e%20f\""));
    cr_expect_null (strstr (text, "a+b/c"));
    cr_expect_null (strstr (html, "a+b/c"));
    free (text);
    free (html);
    message_free (&message);

    //  Headers still refuse an address with a line break: it is checked
    //  before any mail is composed, and composing never sees it.
    cr_expect_not (message_address_valid ("ada@example.org\r\nBcc: eve@evil.example", NULL));
}

Test (notify, api_token_labels_without_control_characters)
{
    static const char *const valid[] = {"ci", "nightly sync \xe2\x80\x94 laptop", "caf\xc3\xa9",
                                        "a \"quoted\" label"};
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        cr_expect (accounts_label_valid (pb_str (valid[i])), "'%s' refused", valid[i]);
    static const char *const invalid[] = {"",
                                          "tab\there",
                                          "new\nline",
                                          "cr\r",
                                          "esc\x1b[31m",
                                          "del\x7f",
                                          "c1 \xc2\x85 next line",
                                          "c1 \xc2\x9b"};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        cr_expect_not (accounts_label_valid (pb_str (invalid[i])), "label %zu accepted", i);
    cr_expect_not (accounts_label_valid ((pb_str_t){"nul\0byte", 8}), "a NUL accepted");
}

/* ==== Tokens ==== */

Test (notify, confirmation_tokens_are_random_and_only_their_hash_checks, .init = s_setup)
{
    char first[SUBSCRIPTIONS_TOKEN_MAX], second[SUBSCRIPTIONS_TOKEN_MAX];
    unsigned char first_hash[32], second_hash[32], hash[32];
    subscriptions_token_new (first, first_hash);
    subscriptions_token_new (second, second_hash);
    cr_expect_eq (strlen (first), 43, "32 random bytes in base64url");
    cr_expect_str_neq (first, second);
    cr_expect_neq (memcmp (first_hash, second_hash, 32), 0);
    cr_assert_eq (subscriptions_token_hash (first, hash), 0);
    cr_expect_eq (memcmp (hash, first_hash, 32), 0, "the stored hash is the token's");
    for (const char *c = first; *c; c++)
        cr_expect (strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *c),
                   "'%c' needs escaping in a URL", *c);
    first[10] = first[10] == 'A' ? 'B' : 'A';
    cr_assert_eq (subscriptions_token_hash (first, hash), 0);
    cr_expect_neq (memcmp (hash, first_hash, 32), 0, "another token, another hash");
    cr_expect_eq (subscriptions_token_hash ("", hash), -1);
    cr_expect_eq (subscriptions_token_hash ("short", hash), -1);
    cr_expect_eq (subscriptions_token_hash ("not base64 at all, with spaces and more text!!", hash),
                  -1);
    char longer[SUBSCRIPTIONS_TOKEN_MAX + 2];
    snprintf (longer, sizeof longer, "%.43sAA", second);
    cr_expect_eq (subscriptions_token_hash (longer, hash), -1);
}

Test (notify, unsubscribe_tokens_are_signed_per_subscription_and_key, .init = s_setup)
{
    subscriptions_key_t key, other_key;
    randombytes_buf (key.bytes, sizeof key.bytes);
    randombytes_buf (other_key.bytes, sizeof other_key.bytes);
    char token[SUBSCRIPTIONS_TOKEN_MAX], again[SUBSCRIPTIONS_TOKEN_MAX];
    subscriptions_unsubscribe_token (&key, 42, "ada@example.org", token);
    subscriptions_unsubscribe_token (&key, 42, "ada@example.org", again);
    cr_expect_str_eq (token, again, "the same link in every digest");
    cr_expect (strncmp (token, "42.", 3) == 0);
    subscriptions_unsubscribe_token (&key, 43, "ada@example.org", again);
    cr_expect_str_neq (token + 3, again + 3, "another subscription, another signature");
    subscriptions_unsubscribe_token (&key, 42, "bob@example.org", again);
    cr_expect_str_neq (token, again, "another address, another signature");
    subscriptions_unsubscribe_token (&other_key, 42, "ada@example.org", again);
    cr_expect_str_neq (token, again, "another deployment's key, another signature");
}

Test (notify, what_a_subscription_follows_in_words)
{
    const char *categories[] = {"cs.LG", "cs.CL"};
    const char *authors[] = {"Ada Lovelace", "Alan Turing"};
    char *text = subscriptions_describe ("diffusion", categories, 2, authors, 2);
    cr_expect_str_eq (text, "on \xe2\x80\x9c"
                            "diffusion\xe2\x80\x9d in cs.LG or cs.CL by "
                            "Ada Lovelace or Alan Turing");
    free (text);
    text = subscriptions_describe ("", categories, 1, NULL, 0);
    cr_expect_str_eq (text, "in cs.LG");
    free (text);
    text = subscriptions_describe ("", NULL, 0, authors, 1);
    cr_expect_str_eq (text, "by Ada Lovelace");
    free (text);
    text = subscriptions_describe ("", NULL, 0, NULL, 0);
    cr_expect_str_eq (text, "");
    free (text);
}
