/*  tokenizer — text into the words the index knows.

    Words are folded: ASCII lower-cased, Latin accents removed ("Schölkopf"
    and "Bal\'azs" give "scholkopf" and "balazs"), LaTeX accent commands
    and braces dropped inside a word, other LaTeX commands kept as words
    ("$\alpha$" gives "alpha"). Everything that is not a letter or a digit
    separates words; other scripts (Greek, CJK) are kept as they are.
    Stemming and stop words are the index's business (see index.h): this
    only cuts and folds, with each word's byte span in the original text,
    for snippets and phrase checks.
*/
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#define TOKENIZER_MAX_WORD 64 //  bytes of a folded word; longer words are cut

//  One word: its folded form (NUL-terminated, LENGTH bytes) and where it
//  was in the text (START, END byte offsets).
typedef struct {
    const char *word;
    size_t length;
    size_t start, end;
} token_t;

//  Called for each word in order; returns false to stop.
typedef bool (token_fn) (const token_t *token, void *arg);

//  Cuts TEXT (LENGTH bytes of UTF-8; invalid bytes separate words) into
//  folded words, calling FN for each. Returns how many words were seen.
size_t tokenize (const char *text, size_t length, token_fn *fn, void *arg);

#endif
