/*  tokenizer — text into folded words; see tokenizer.h. */
#include "tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

//  Latin-1 Supplement and Latin Extended-A (U+00C0..U+017F) to the ASCII
//  they are read as; NULL where the code point is not a letter.
static const char *const LATIN_FOLD[0x180 - 0xC0] = {
    //  U+00C0
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    //  U+00D0
    "d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u", "u", "y", "th", "ss",
    //  U+00E0
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    //  U+00F0
    "d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u", "u", "y", "th", "y",
    //  U+0100
    "a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",
    //  U+0110
    "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
    //  U+0120
    "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",
    //  U+0130
    "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",
    //  U+0140
    "l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
    //  U+0150
    "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",
    //  U+0160
    "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
    //  U+0170
    "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s"};

//  Decodes one UTF-8 code point at TEXT (LEFT bytes); returns its length,
//  or 0 for an invalid sequence.
static size_t s_decode (const unsigned char *text, size_t left, uint32_t *code)
{
    unsigned char c = text[0];
    size_t length = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (length == 0 || length > left)
        return 0;
    uint32_t value = c & (0x7F >> length);
    for (size_t i = 1; i < length; i++) {
        if ((text[i] & 0xC0) != 0x80)
            return 0;
        value = value << 6 | (text[i] & 0x3F);
    }
    if ((length == 3 && value < 0x800) || (length == 4 && (value < 0x10000 || value > 0x10FFFF)) ||
        (value >= 0xD800 && value <= 0xDFFF))
        return 0;
    *code = value;
    return length;
}

//  True for code points that separate words: Latin-1 symbols, general
//  punctuation, math operators, arrows, box drawing, CJK punctuation.
static bool s_separator (uint32_t code)
{
    return code < 0xC0 || code == 0xD7 || code == 0xF7 || (code >= 0x2000 && code <= 0x2BFF) ||
           (code >= 0x3000 && code <= 0x303F) || (code >= 0xFE30 && code <= 0xFE4F) ||
           (code >= 0xFF00 && code <= 0xFF0F);
}

typedef struct {
    char word[TOKENIZER_MAX_WORD + 1];
    size_t length;
    size_t start, end;
    token_fn *fn;
    void *arg;
    size_t count;
    bool stopped;
} cutter_t;

static void s_append (cutter_t *cutter, const char *bytes, size_t length, size_t start, size_t end)
{
    if (cutter->length == 0)
        cutter->start = start;
    cutter->end = end;
    //  A word past the limit keeps its first bytes, cut at a character.
    if (cutter->length + length <= TOKENIZER_MAX_WORD) {
        memcpy (cutter->word + cutter->length, bytes, length);
        cutter->length += length;
    }
}

static void s_flush (cutter_t *cutter)
{
    if (cutter->length == 0 || cutter->stopped)
        return;
    cutter->word[cutter->length] = '\0';
    token_t token = {cutter->word, cutter->length, cutter->start, cutter->end};
    cutter->count++;
    if (!cutter->fn (&token, cutter->arg))
        cutter->stopped = true;
    cutter->length = 0;
}

static bool s_ascii_letter (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

//  LaTeX accent commands written with a symbol: \' \" \` \^ \~ \= \.
static bool s_accent_symbol (unsigned char c)
{
    return c == '\'' || c == '"' || c == '`' || c == '^' || c == '~' || c == '=' || c == '.';
}

//  LaTeX accent commands written with a letter (\c{c}, \v{s}, \H{o}, ...),
//  when followed by a brace or a space and a letter.
static bool s_accent_letter (const char *text, size_t i, size_t length)
{
    if (i + 2 >= length || !strchr ("cvuHkrdbt", text[i + 1]) || text[i + 1] == '\0')
        return false;
    return text[i + 2] == '{' ||
           (text[i + 2] == ' ' && i + 3 < length && s_ascii_letter ((unsigned char)text[i + 3]));
}

size_t tokenize (const char *text, size_t length, token_fn *fn, void *arg)
{
    cutter_t cutter = {.fn = fn, .arg = arg};
    size_t i = 0;
    while (i < length && !cutter.stopped) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            if (s_ascii_letter (c) || (c >= '0' && c <= '9')) {
                char lower = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                s_append (&cutter, &lower, 1, i, i + 1);
                i++;
            } else if (c == '\\' && i + 1 < length && s_accent_symbol ((unsigned char)text[i + 1]))
                i += 2; //  an accent: the letter after it continues the word
            else if (c == '\\' && s_accent_letter (text, i, length))
                i += 3;
            else if (c == '\\') {
                //  Another command: its name is a word of its own, ended
                //  by anything else ("\\mathbb{R}" is "mathbb", "r").
                s_flush (&cutter);
                for (i++; i < length && s_ascii_letter ((unsigned char)text[i]); i++) {
                    char lower = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
                    s_append (&cutter, &lower, 1, i, i + 1);
                }
                s_flush (&cutter);
            } else if ((c == '{' || c == '}') && cutter.length)
                i++; //  braces inside a word ("M{\"u}ller") do not cut it
            else {
                s_flush (&cutter);
                i++;
            }
            continue;
        }
        uint32_t code;
        size_t size = s_decode ((const unsigned char *)text + i, length - i, &code);
        if (size == 0) {
            s_flush (&cutter);
            i++;
        } else if (code >= 0xC0 && code < 0x180 && LATIN_FOLD[code - 0xC0]) {
            const char *folded = LATIN_FOLD[code - 0xC0];
            s_append (&cutter, folded, strlen (folded), i, i + size);
            i += size;
        } else if (s_separator (code)) {
            s_flush (&cutter);
            i += size;
        } else {
            s_append (&cutter, text + i, size, i, i + size);
            i += size;
        }
    }
    s_flush (&cutter);
    return cutter.count;
}
