/*  message — the mails notify sends, as the bytes that go after SMTP DATA.

    A digest, a confirmation and a sign-in mail are all multipart/alternative: a text/plain
    part and a text/html part, UTF-8, quoted-printable, lines ended by CRLF
    and never longer than 76 characters. Header values made from anything a
    subscriber typed are RFC 2047 encoded words, so no CR or LF can reach a
    header; addresses are checked by message_address_valid before they get
    here. The HTML escapes every text it shows and loads nothing remote (no
    images, fonts or style sheets): what a reader sees is in the message.
    Digests carry the RFC 8058 one-click unsubscribe headers.
*/
#ifndef MESSAGE_H
#define MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MESSAGE_ADDRESS_MAX 254

//  A growing byte buffer, the composed message.
typedef struct {
    char *data;      //  the bytes, NUL-terminated
    size_t size;     //  bytes used, without the NUL
    size_t capacity; //  bytes allocated
} message_t;

//  One paper as a mail shows it. Every string is UTF-8 text, not HTML.
typedef struct {
    const char *id;         //  "2410.12345"
    const char *title;      //  the title
    const char *authors;    //  "Ada Lovelace, Alan Turing et al."
    const char *categories; //  "cs.LG, cs.AI"
    const char *published;  //  "2024-10-25", or NULL
    const char *excerpt;    //  the start of the abstract, or NULL
} message_paper_t;

//  What one digest holds and where its links go.
typedef struct {
    const char *from;                //  PAPERBUS_MAIL_FROM, checked by message_sender_valid
    const char *to;                  //  the subscriber's address
    const char *message_id;          //  "<...@...>"
    int64_t date_ms;                 //  the Date header
    const char *public_url;          //  "https://papers.example.org", no trailing slash
    const char *unsubscribe_token;   //  signed token of the one-click link
    const char *period;              //  "2026-11-28" (a day, or a week's Monday)
    bool weekly;                     //  weekly digest, else daily
    const char *interest;            //  what the subscriber follows, in words; NULL for none
    const message_paper_t *trending; //  the trending papers new to this subscriber
    size_t trending_count;           //  how many
    const message_paper_t *matching; //  new papers matching the subscription
    size_t matching_count;           //  how many
} message_digest_t;

//  What a confirmation mail holds.
typedef struct {
    const char *from;       //  PAPERBUS_MAIL_FROM
    const char *to;         //  the address asking to subscribe
    const char *message_id; //  "<...@...>"
    int64_t date_ms;        //  the Date header
    const char *public_url; //  as in message_digest_t
    const char *token;      //  the confirmation token
    const char *interest;   //  what was asked for, in words
    int64_t expires_ms;     //  when the link stops working
} message_confirmation_t;

//  What a sign-in mail holds.
typedef struct {
    const char *from;       //  PAPERBUS_MAIL_FROM
    const char *to;         //  the address signing in
    const char *message_id; //  "<...@...>"
    int64_t date_ms;        //  the Date header
    const char *public_url; //  as in message_digest_t
    const char *token;      //  the sign-in token
    int64_t expires_ms;     //  when the link stops working
} message_signin_t;

//  Empties MESSAGE, keeping its memory.
void message_reset (message_t *message);

//  Frees what MESSAGE holds.
void message_free (message_t *message);

//  Composes DIGEST into MESSAGE (after message_reset). Returns 0, or -1 when
//  memory runs out.
int message_compose_digest (message_t *message, const message_digest_t *digest);

//  Composes a confirmation mail into MESSAGE. Returns 0 or -1.
int message_compose_confirmation (message_t *message, const message_confirmation_t *mail);

//  Composes a sign-in mail into MESSAGE: the token is in its link
//  (PUBLIC_URL/signin?token=T) and nowhere else. Returns 0 or -1.
int message_compose_signin (message_t *message, const message_signin_t *mail);

//  Whether ADDRESS is an address paperbus mails: ASCII `local@domain`, at
//  most 254 bytes; the local part dot-separated atoms of letters, digits and
//  !#$%&'*+/=?^_`{|}~- (no quoted forms); the domain at least two labels of
//  letters, digits and inner hyphens, the last not all digits. When it is
//  not, PROBLEM (if not NULL) says why.
bool message_address_valid (const char *address, const char **problem);

//  Whether SENDER is an address, or `Name <address>` with a printable name
//  without < > " or CR/LF; its domain may be one label ("localhost").
//  Writes the bare address to ADDRESS.
bool message_sender_valid (const char *sender, char address[MESSAGE_ADDRESS_MAX + 1]);

//  Appends TEXT as quoted-printable (RFC 2045) to MESSAGE: lines end in
//  CRLF, none is longer than 76 characters. Returns 0 or -1.
int message_append_quoted_printable (message_t *message, const char *text);

//  Appends the header NAME with the unstructured VALUE, as RFC 2047 encoded
//  words when VALUE is not plain printable ASCII, folded to short lines.
//  Returns 0 or -1.
int message_append_header (message_t *message, const char *name, const char *value);

#endif
