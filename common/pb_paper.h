/*  pb_paper — what a paper's fields look like once normalised.

    Every source spells things its own way: "http://arxiv.org/abs/2104.12255v1",
    "oai:arXiv.org:hep-th/9901001", "arXiv:2501.01234"; titles broken over
    lines with runs of spaces; dates in RFC 3339, RFC 2822 or plain days.
    These functions turn them into one form, so that the same paper from two
    sources is the same row.
*/
#ifndef PB_PAPER_H
#define PB_PAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_PAPER_ID_MAX 128 //  bytes of a paper id

//  Parses an arXiv identifier in any of its spellings into ID (the identifier
//  without version: "2501.01234", "hep-th/9901001") and *VERSION (0 when the
//  text carries none). Returns 0, or -1 when TEXT is not an arXiv id.
int pb_arxiv_id_parse (const char *text, size_t length, char id[PB_PAPER_ID_MAX + 1], int *version);

//  Returns TEXT with every run of white space (line breaks included) made one
//  space, control characters dropped, and the ends trimmed; LaTeX is kept.
//  The paper GIVEN names, as stored: an arXiv id loses its version and
//  prefix ("arXiv:2501.01234v2" is "2501.01234"); any other id is kept as
//  given, cut at PB_PAPER_ID_MAX bytes. Returns 0, or -1 with ID empty (no
//  paper has it) when GIVEN is empty or holds a control character (a NUL
//  would otherwise cut it short into another paper's id).
int pb_paper_id_from (const char *given, size_t length, char id[PB_PAPER_ID_MAX + 1]);

//  The caller frees the result.
char *pb_text_normalize (const char *text, size_t length);

//  Parses a date: RFC 3339 ("2021-04-20T16:07:14Z", "...+02:00"), RFC 2822
//  ("Mon, 2 Apr 2007 19:18:42 GMT"), a day ("2026-05-21"), or a month or
//  year alone ("2010", "2010-06": its first day). Sets *SECONDS
//  since the epoch, UTC. Returns 0, or -1 if it is none of these.
int pb_date_parse (const char *text, int64_t *seconds);

//  Writes SECONDS as "YYYY-MM-DD HH:MM:SS+00" into OUT (at least 32 bytes).
void pb_date_format (int64_t seconds, char *out);

//  Makes the stable id of a paper without an arXiv id: "doi:<doi in lower
//  case>" when it has a DOI, else "t:" and a hash of its normalised title and
//  first author, so that ingesting it again finds the same row.
void pb_paper_stable_id (const char *doi, const char *title, const char *first_author,
                         char id[PB_PAPER_ID_MAX + 1]);

#endif
