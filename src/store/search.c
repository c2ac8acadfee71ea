/*
 * search.c -- MLflow 2.12's search filter and order_by language, compiled to
 * SQL with bound parameters.
 *
 * Why it is built this way: the reference server does not have a grammar for
 * its filter language. It runs the filter through the `sqlparse` tokenizer,
 * keeps the token groups that sqlparse happens to form, and interprets those
 * clause by clause. Which filters are accepted (a missing AND is fine,
 * `params.from = 'x'` is not, `'it''s'` keeps both quotes) and the text of
 * every error follow from sqlparse's lexing and grouping rules. To answer
 * like MLflow, this file reimplements the parts of sqlparse's behaviour that
 * MLflow's search depends on (its lexer rules in order, statement splitting,
 * and the token grouping passes, as of sqlparse 0.5), then MLflow's reading
 * of the grouped tokens, then compiles the result to SQL over keel's tables.
 * No client text ever becomes SQL text: keys and values are bound.
 *
 * Layers, in file order:
 *   1. characters: UTF-8, and Python's \w \s \d classes
 *   2. lexer: sqlparse's token rules
 *   3. token tree: statement splitting and grouping passes
 *   4. MLflow's reading of a statement: clauses, identifiers, values
 *   5. order_by entries
 *   6. SQL: key tables, comparator tables, compilation
 *   7. page tokens
 *
 * Known approximations (all on inputs no client produces): Python's Unicode
 * character classes are approximated by ranges; literal_eval of IN lists
 * treats every malformed list as a syntax error; MLflow's crashes (HTML 500)
 * become KEEL_E_INTERNAL or KEEL_E_INVALID_PARAMETER errors.
 */
#include "store/search.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/arena.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/jparse.h"
#include "util/buf.h"

/* sqlparse 0.5's own guards: past them it raises and MLflow reports the
 * filter as unparseable. */
#define SP_MAX_GROUPING_DEPTH 100
#define SP_MAX_GROUPING_TOKENS 10000
/* Most bound values one compiled query may carry (SQLite allows 32766). */
#define SEARCH_MAX_BINDS 30000
/* Longest SQL text one compilation may produce. */
#define SEARCH_MAX_SQL_LEN (8u << 20)

/* ------------------------------------------------------------------------
 * 1. Characters
 * ---------------------------------------------------------------------- */

struct range {
    uint32_t lo, hi;
};

static bool in_ranges(uint32_t c, const struct range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return true;
    return false;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Python's str.isspace(), which is what \s matches. */
static bool u_space(uint32_t c)
{
    static const struct range sp[] = {
        {0x09, 0x0D}, {0x1C, 0x20}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680},
        {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
        {0x3000, 0x3000},
    };
    return in_ranges(c, sp, N_OF(sp));
}

/* Unicode decimal digits (\d); only the common scripts. */
static int u_digit_value(uint32_t c)
{
    static const uint32_t zeros[] = {0x30,  0x660, 0x6F0, 0x7C0,  0x966,
                                     0x9E6, 0xA66, 0xAE6, 0xFF10};
    for (size_t i = 0; i < N_OF(zeros); i++)
        if (c >= zeros[i] && c <= zeros[i] + 9)
            return (int)(c - zeros[i]);
    return -1;
}

static bool u_digit(uint32_t c)
{
    return u_digit_value(c) >= 0;
}

/* \w: letters, digits, numerics and '_'. Outside ASCII: everything but
 * spaces, punctuation, symbols and combining marks of the common blocks. */
static bool u_word(uint32_t c)
{
    static const struct range non_word[] = {
        {0x80, 0xA9},     {0xAB, 0xB1},     {0xB4, 0xB4},     {0xB6, 0xB8},
        {0xBB, 0xBB},     {0xBF, 0xBF},     {0xD7, 0xD7},     {0xF7, 0xF7},
        {0x300, 0x36F},   {0x2000, 0x206F}, {0x20A0, 0x20FF}, {0x2190, 0x245F},
        {0x2500, 0x2BFF}, {0x2E00, 0x2E7F}, {0x3000, 0x3004}, {0x3008, 0x3020},
        {0xD800, 0xF8FF}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE6F}, {0xFEFF, 0xFEFF},
        {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF3E}, {0xFF40, 0xFF40},
        {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF}, {0x1F000, 0x1FAFF}, {0xF0000, 0x10FFFF},
    };
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    return !u_space(c) && !in_ranges(c, non_word, N_OF(non_word));
}

/* sqlparse's [A-ZÀ-Ü] under re.IGNORECASE. */
static bool u_letter(uint32_t c)
{
    static const struct range r[] = {
        {'A', 'Z'},   {'a', 'z'},     {0xC0, 0xDC},   {0xE0, 0xF6},
        {0xF8, 0xFC}, {0x130, 0x131}, {0x17F, 0x17F}, {0x212A, 0x212A},
    };
    return in_ranges(c, r, N_OF(r));
}

/* Does code point c equal ASCII letter/char `a` under re.IGNORECASE? */
static bool ci_eq(uint32_t c, char a)
{
    char up = (a >= 'a' && a <= 'z') ? (char)(a - 32) : a;
    char lo = (up >= 'A' && up <= 'Z') ? (char)(up + 32) : up;
    if (c == (uint32_t)(unsigned char)up || c == (uint32_t)(unsigned char)lo)
        return true;
    return (up == 'I' && (c == 0x130 || c == 0x131)) || (up == 'S' && c == 0x17F) ||
           (up == 'K' && c == 0x212A);
}

/* ------------------------------------------------------------------------
 * Parse state shared by the layers below
 * ---------------------------------------------------------------------- */

enum tt {
    TT_GROUP, /* a token group (sqlparse's ttype None) */
    TT_WS,
    TT_NEWLINE,
    TT_COMMENT_SINGLE,
    TT_COMMENT_SINGLE_HINT,
    TT_COMMENT_MULTI,
    TT_COMMENT_MULTI_HINT,
    TT_ASSIGNMENT,
    TT_PUNCT,
    TT_WILDCARD,
    TT_NAME,
    TT_NAME_BUILTIN,
    TT_NAME_PLACEHOLDER,
    TT_LITERAL,
    TT_COMMAND,
    TT_KEYWORD,
    TT_KW_DML,
    TT_KW_DDL,
    TT_KW_DCL,
    TT_KW_CTE,
    TT_KW_ORDER,
    TT_KW_TZCAST,
    TT_NUM_HEX,
    TT_NUM_FLOAT,
    TT_NUM_INT,
    TT_STR_SINGLE,
    TT_STR_SYMBOL,
    TT_OPERATOR,
    TT_OP_CMP,
    TT_ERROR,
};

enum gcls {
    G_NONE, /* a plain token */
    G_STATEMENT,
    G_PAREN,
    G_SQUARE,
    G_CASE,
    G_IF,
    G_FOR,
    G_BEGIN,
    G_OVER,
    G_FUNCTION,
    G_WHERE,
    G_IDENTIFIER,
    G_IDLIST,
    G_COMPARISON,
    G_OPERATION,
    G_TYPED_LITERAL,
    G_ASSIGNMENT,
    G_COMMENT,
    G_VALUES,
};

struct tok {
    enum tt tt;
    enum gcls cls;
    uint32_t b, e; /* byte span in the source text */
    struct tok **kid;
    uint32_t n, cap;
};

struct sp {
    struct keel_ctx *ctx;
    const char *src;
    uint32_t *cp;  /* code points */
    uint32_t *off; /* byte offset of each code point; off[n] = length */
    size_t n;
    int32_t *quoted[4]; /* see quoted_end() */
    bool oom;
    bool parse_error; /* where sqlparse would raise SQLParseError */
};

static void *sp_alloc(struct sp *p, size_t n)
{
    void *m = karena_alloc(p->ctx->arena, n ? n : 1);
    if (!m)
        p->oom = true;
    return m;
}

static uint32_t at(const struct sp *p, size_t i)
{
    return i < p->n ? p->cp[i] : 0;
}

/* The UTF-8 sequence at s[i] (len bytes in all): its length and code point,
 * or 0 when it is not well-formed UTF-8. */
static size_t utf8_next(const char *s, size_t len, size_t i, uint32_t *cp)
{
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char c = (unsigned char)s[i];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                                  : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (k == 0 || i + k > len)
        return 0;
    uint32_t v = k == 1 ? c : (uint32_t)(c & (0x7F >> k));
    for (size_t j = 1; j < k; j++) {
        unsigned char d = (unsigned char)s[i + j];
        if ((d & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (d & 0x3Fu);
    }
    if (v < min_of_len[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return k;
}

static bool utf8_load(struct sp *p, const char *s)
{
    size_t len = strlen(s);
    p->src = s;
    p->cp = sp_alloc(p, (len + 1) * sizeof *p->cp);
    p->off = sp_alloc(p, (len + 1) * sizeof *p->off);
    if (p->oom)
        return false;
    size_t i = 0, n = 0;
    while (i < len) {
        size_t k = utf8_next(s, len, i, &p->cp[n]);
        if (!k)
            return false;
        p->off[n++] = (uint32_t)i;
        i += k;
    }
    p->off[n] = (uint32_t)len;
    p->n = n;
    return true;
}

/* ------------------------------------------------------------------------
 * 2. Lexer: sqlparse's token rules, tried in its order at every position.
 * Each rule returns the length of its match in code points, 0 for none.
 * ---------------------------------------------------------------------- */

/* The SQL words the filter grammar gives a meaning to: the logical and
 * comparison words of MLflow's filter language, and the statement words that
 * would end or restructure a clause. Every other word is a name, so a key
 * that happens to be an SQL word elsewhere (params.from, metrics.count) is
 * just a key. VERSION is here because the registry's clients write
 * `version = '1'`, which MLflow rejects as clauses that are no comparison.
 * Sorted for bsearch(). */
enum kwcat { KW, BI, DM, DD, DC, CT, OP };

static const struct kwent {
    const char *word;
    enum kwcat cat;
} keywords[] = {
    {"ALTER", DD},   {"AND", KW},     {"ASC", KW},    {"BETWEEN", KW}, {"CREATE", DD},
    {"DELETE", DM},  {"DESC", KW},    {"DROP", DD},   {"ESCAPE", KW},  {"EXISTS", KW},
    {"FALSE", KW},   {"GRANT", DC},  {"ILIKE", KW},   {"IN", KW},
    {"INSERT", DM},  {"IS", KW},      {"LIKE", KW},   {"NOT", KW},     {"NULL", KW},
    {"OR", KW},      {"REVOKE", DC},  {"SELECT", DM}, {"TRUE", KW},    {"UPDATE", DM},
    {"VERSION", KW},
    {"WITH", CT},
};

static int kw_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kwent *)a)->word, ((const struct kwent *)b)->word);
}

/* The token type of a word (sqlparse's PROCESS_AS_KEYWORD): its keyword
 * category if upper(word) is one, else a name. */
static enum tt word_type(const struct sp *p, size_t i, size_t len)
{
    char up[32];
    if (len >= sizeof up)
        return TT_NAME;
    for (size_t k = 0; k < len; k++) {
        uint32_t c = p->cp[i + k];
        if (c == 0x131)
            c = 'I';
        else if (c == 0x17F)
            c = 'S';
        if (c >= 0x80)
            return TT_NAME;
        up[k] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    up[len] = '\0';
    struct kwent key = {up, KW};
    const struct kwent *hit = bsearch(&key, keywords, N_OF(keywords), sizeof keywords[0], kw_cmp);
    if (!hit)
        return TT_NAME;
    static const enum tt of_cat[] = {[KW] = TT_KEYWORD, [BI] = TT_NAME_BUILTIN, [DM] = TT_KW_DML,
                                     [DD] = TT_KW_DDL,  [DC] = TT_KW_DCL,       [CT] = TT_KW_CTE,
                                     [OP] = TT_OPERATOR};
    return of_cat[hit->cat];
}

/* Matches ASCII word `w` case-insensitively at i; returns its length or 0. */
static size_t lit_ci(const struct sp *p, size_t i, const char *w)
{
    size_t k = 0;
    for (; w[k]; k++)
        if (!ci_eq(at(p, i + k), w[k]))
            return 0;
    return k;
}

/* \b after a match ending at j (the match ends in a word character). */
static bool wb_after(const struct sp *p, size_t j)
{
    return j >= p->n || !u_word(p->cp[j]);
}

static size_t skip_spaces(const struct sp *p, size_t j)
{
    while (j < p->n && u_space(p->cp[j]))
        j++;
    return j;
}

/*
 * A keyword phrase: words separated by \s+, "|" separating alternatives
 * within one slot, ending in \b. Slots are tried in order like the regex
 * engine would (each slot's alternatives in order; no alternative is a
 * prefix of another in the phrases used here). Returns the end or 0.
 */
static size_t phrase(const struct sp *p, size_t i, const char *const *slots, size_t nslots)
{
    size_t j = i;
    for (size_t s = 0; s < nslots; s++) {
        if (s > 0) {
            size_t k = skip_spaces(p, j);
            if (k == j)
                return 0;
            j = k;
        }
        const char *alt = slots[s];
        size_t got = 0;
        while (*alt && !got) {
            char w[32];
            size_t wl = strcspn(alt, "|");
            if (wl >= sizeof w)
                return 0;
            memcpy(w, alt, wl);
            w[wl] = '\0';
            got = lit_ci(p, j, w);
            alt += wl + (alt[wl] == '|');
        }
        if (!got)
            return 0;
        j += got;
    }
    return wb_after(p, j) ? j : 0;
}

#define PHRASE(p, i, ...)                                                                 \
    phrase((p), (i), (const char *const[]){__VA_ARGS__},                                  \
           sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* (--|# )\+?.*?(\r\n|\r|\n|$) */
static size_t rx_line_comment(const struct sp *p, size_t i, bool hint)
{
    size_t j = i;
    if (at(p, j) == '-' && at(p, j + 1) == '-')
        j += 2;
    else if (at(p, j) == '#' && at(p, j + 1) == ' ')
        j += 2;
    else
        return 0;
    if (hint) {
        if (at(p, j) != '+')
            return 0;
        j++;
    }
    for (; j < p->n; j++) {
        if (p->cp[j] == '\r')
            return (at(p, j + 1) == '\n' ? j + 2 : j + 1) - i;
        if (p->cp[j] == '\n')
            return j + 1 - i;
    }
    return p->n - i;
}

/* /\*\+?[\s\S]*?\*\/ */
static size_t rx_block_comment(const struct sp *p, size_t i, bool hint)
{
    if (at(p, i) != '/' || at(p, i + 1) != '*')
        return 0;
    size_t j = i + 2;
    if (hint) {
        if (at(p, j) != '+')
            return 0;
        j++;
    }
    for (; j + 1 < p->n; j++)
        if (p->cp[j] == '*' && p->cp[j + 1] == '/')
            return j + 2 - i;
    return 0;
}

/*
 * The quoted-token rules  q(qq|\\q|[^q])*q  (and without the \\q branch for
 * backticks): the regex engine's greedy-with-backtracking result from star
 * position j does not depend on where the token started, so one right-to-
 * left pass gives, for every j, where the token ends (-1: no closing quote).
 */
static int32_t quoted_end(struct sp *p, int which, size_t j)
{
    static const uint32_t quote[4] = {'\'', '"', '`', 0xB4};
    if (!p->quoted[which]) {
        int32_t *f = sp_alloc(p, (p->n + 2) * sizeof *f);
        if (!f)
            return -1;
        uint32_t q = quote[which];
        bool backslash = which < 2;
        f[p->n] = -1;
        f[p->n + 1] = -1;
        for (size_t k = p->n; k-- > 0;) {
            int32_t r = -1;
            uint32_t c = p->cp[k];
            if (c == q && at(p, k + 1) == q)
                r = f[k + 2];
            if (r < 0 && backslash && c == '\\' && at(p, k + 1) == q)
                r = f[k + 2];
            if (r < 0 && c != q)
                r = f[k + 1];
            if (r < 0 && c == q)
                r = (int32_t)(k + 1);
            f[k] = r;
        }
        p->quoted[which] = f;
    }
    return p->quoted[which][j];
}

static size_t rx_quoted(struct sp *p, size_t i, int which, uint32_t q)
{
    if (at(p, i) != q)
        return 0;
    int32_t e = quoted_end(p, which, i + 1);
    return e < 0 ? 0 : (size_t)e - i;
}

/* ((?<![\w\"\$])\$(?:[_A-ZÀ-Ü]\w*)?\$)[\s\S]*?\1 */
static size_t rx_dollar(const struct sp *p, size_t i)
{
    if (at(p, i) != '$')
        return 0;
    if (i > 0 && (u_word(p->cp[i - 1]) || p->cp[i - 1] == '"' || p->cp[i - 1] == '$'))
        return 0;
    size_t t = i + 1;
    if (u_letter(at(p, t)) || at(p, t) == '_') {
        t++;
        while (t < p->n && u_word(p->cp[t]))
            t++;
    }
    if (at(p, t) != '$')
        return 0;
    size_t taglen = t + 1 - i;
    for (size_t j = t + 1; j + taglen <= p->n; j++) {
        size_t k = 0;
        for (; k < taglen; k++) {
            uint32_t a = p->cp[i + k], b = p->cp[j + k];
            if (a != b && !(a < 0x80 && ci_eq(b, (char)a)))
                break;
        }
        if (k == taglen)
            return j + taglen - i;
    }
    return 0;
}

/* %(\(\w+\))?s */
static size_t rx_percent_placeholder(const struct sp *p, size_t i)
{
    if (at(p, i) != '%')
        return 0;
    if (at(p, i + 1) == '(') {
        size_t j = i + 2;
        while (j < p->n && u_word(p->cp[j]))
            j++;
        if (j > i + 2 && at(p, j) == ')' && ci_eq(at(p, j + 1), 's'))
            return j + 2 - i;
        return 0;
    }
    return ci_eq(at(p, i + 1), 's') ? 2 : 0;
}

/* (?<!\w)[$:?]\w+ */
static size_t rx_sigil_placeholder(const struct sp *p, size_t i)
{
    uint32_t c = at(p, i);
    if (c != '$' && c != ':' && c != '?')
        return 0;
    if (i > 0 && u_word(p->cp[i - 1]))
        return 0;
    size_t j = i + 1;
    while (j < p->n && u_word(p->cp[j]))
        j++;
    return j > i + 1 ? j - i : 0;
}

/* <first>\w+ or <first>\w* after a fixed-length prefix */
static size_t word_run(const struct sp *p, size_t j)
{
    while (j < p->n && u_word(p->cp[j]))
        j++;
    return j;
}

/* (@|##|#)[A-ZÀ-Ü]\w+ */
static size_t rx_at_name(const struct sp *p, size_t i)
{
    size_t starts[2] = {0, 0};
    size_t ns = 0;
    if (at(p, i) == '@')
        starts[ns++] = i + 1;
    if (at(p, i) == '#' && at(p, i + 1) == '#')
        starts[ns++] = i + 2;
    if (at(p, i) == '#')
        starts[ns++] = i + 1;
    for (size_t s = 0; s < ns && s < 2; s++) {
        size_t j = starts[s];
        if (!u_letter(at(p, j)))
            continue;
        size_t e = word_run(p, j + 1);
        if (e > j + 1)
            return e - i;
    }
    return 0;
}

/* [A-ZÀ-Ü]\w* followed by \s*\. (before_dot) or by \( (before_paren) */
static size_t rx_name_ahead(const struct sp *p, size_t i, uint32_t want)
{
    if (!u_letter(at(p, i)))
        return 0;
    size_t e = word_run(p, i + 1);
    size_t k = want == '.' ? skip_spaces(p, e) : e;
    return at(p, k) == want ? e - i : 0;
}

/* (?<=\.)[A-ZÀ-Ü]\w* */
static size_t rx_name_after_dot(const struct sp *p, size_t i)
{
    if (i == 0 || p->cp[i - 1] != '.' || !u_letter(at(p, i)))
        return 0;
    return word_run(p, i + 1) - i;
}

static size_t digit_run(const struct sp *p, size_t j)
{
    while (j < p->n && u_digit(p->cp[j]))
        j++;
    return j;
}

/* -?0x[\dA-F]+ */
static size_t rx_hex(const struct sp *p, size_t i)
{
    size_t j = i + (at(p, i) == '-');
    if (at(p, j) != '0' || !ci_eq(at(p, j + 1), 'x'))
        return 0;
    size_t k = j + 2;
    for (;;) {
        uint32_t c = at(p, k);
        if (!(u_digit(c) || (c < 0x80 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))))
            break;
        k++;
    }
    return k > j + 2 ? k - i : 0;
}

/* -?\d+(\.\d+)?E-?\d+ */
static size_t rx_float_exp(const struct sp *p, size_t i)
{
    size_t j = i + (at(p, i) == '-');
    size_t d = digit_run(p, j);
    if (d == j)
        return 0;
    size_t cands[2];
    size_t nc = 0;
    if (at(p, d) == '.') {
        size_t f = digit_run(p, d + 1);
        if (f > d + 1)
            cands[nc++] = f;
    }
    cands[nc++] = d;
    for (size_t c = 0; c < nc; c++) {
        size_t k = cands[c];
        if (!ci_eq(at(p, k), 'e'))
            continue;
        k++;
        size_t m = k + (at(p, k) == '-');
        size_t x = digit_run(p, m);
        if (x > m)
            return x - i;
        x = digit_run(p, k); /* -? backtracked to empty */
        if (x > k)
            return x - i;
    }
    return 0;
}

static bool not_letter_(uint32_t c)
{
    return !(u_letter(c) || c == '_');
}

/* (?![_A-ZÀ-Ü])-?(\d+(\.\d*)|\.\d+)(?![_A-ZÀ-Ü]) */
static size_t rx_float(const struct sp *p, size_t i)
{
    size_t j = i + (at(p, i) == '-');
    size_t d = digit_run(p, j);
    if (d > j && at(p, d) == '.') {
        size_t f = digit_run(p, d + 1);
        for (size_t e = f + 1; e-- > d + 1;) /* \d* backtracks down to empty */
            if (not_letter_(at(p, e)))
                return e - i;
    } else if (d == j && at(p, j) == '.') {
        size_t f = digit_run(p, j + 1);
        for (size_t e = f; e > j + 1; e--)
            if (not_letter_(at(p, e)))
                return e - i;
    }
    return 0;
}

/* (?![_A-ZÀ-Ü])-?\d+(?![_A-ZÀ-Ü]) */
static size_t rx_integer(const struct sp *p, size_t i)
{
    size_t j = i + (at(p, i) == '-');
    size_t d = digit_run(p, j);
    for (size_t e = d; e > j; e--)
        if (not_letter_(at(p, e)))
            return e - i;
    return 0;
}

/* (?<![\w\])])(\[[^\]\[]+\]) */
static size_t rx_bracket_name(const struct sp *p, size_t i)
{
    if (at(p, i) != '[')
        return 0;
    if (i > 0 && (u_word(p->cp[i - 1]) || p->cp[i - 1] == ']' || p->cp[i - 1] == ')'))
        return 0;
    size_t j = i + 1;
    while (j < p->n && p->cp[j] != '[' && p->cp[j] != ']')
        j++;
    return j > i + 1 && at(p, j) == ']' ? j + 1 - i : 0;
}

/* ((LEFT|RIGHT|FULL\s+)?(INNER|OUTER|STRAIGHT\s+)?|(CROSS|NATURAL\s+)?)?JOIN\b */
static size_t rx_join(const struct sp *p, size_t i)
{
    static const char *const lead[] = {"LEFT|RIGHT|FULL", "INNER|OUTER|STRAIGHT", "CROSS|NATURAL"};
    size_t e;
    if ((e = PHRASE(p, i, lead[0], lead[1], "JOIN")) || (e = PHRASE(p, i, lead[0], "JOIN")) ||
        (e = PHRASE(p, i, lead[1], "JOIN")) || (e = PHRASE(p, i, lead[2], "JOIN")) ||
        (e = PHRASE(p, i, "JOIN")))
        return e - i;
    return 0;
}

/* The keyword phrase rules between JOIN and LIKE, in sqlparse's order. */
static size_t rx_phrases(const struct sp *p, size_t i, enum tt *type)
{
    size_t e;
    *type = TT_KEYWORD;
    if ((e = PHRASE(p, i, "END", "IF|LOOP|WHILE")) || (e = PHRASE(p, i, "END")) ||
        (e = PHRASE(p, i, "IF", "NOT", "EXISTS")) || (e = PHRASE(p, i, "IF", "EXISTS")) ||
        (e = PHRASE(p, i, "NOT", "NULL")))
        return e - i;
    *type = TT_KW_ORDER;
    if ((e = PHRASE(p, i, "ASC|DESC", "NULLS", "FIRST|LAST")) || (e = PHRASE(p, i, "ASC|DESC")) ||
        (e = PHRASE(p, i, "NULLS", "FIRST|LAST")))
        return e - i;
    *type = TT_KEYWORD;
    if ((e = PHRASE(p, i, "UNION", "ALL")))
        return e - i;
    *type = TT_KW_DDL;
    if ((e = PHRASE(p, i, "CREATE", "OR", "REPLACE")) || (e = PHRASE(p, i, "CREATE")))
        return e - i;
    *type = TT_NAME_BUILTIN;
    if ((e = PHRASE(p, i, "DOUBLE", "PRECISION")))
        return e - i;
    *type = TT_KEYWORD;
    if ((e = PHRASE(p, i, "GROUP", "BY")) || (e = PHRASE(p, i, "ORDER", "BY")) ||
        (e = PHRASE(p, i, "PRIMARY", "KEY")) || (e = PHRASE(p, i, "HANDLER", "FOR")))
        return e - i;
    /* GO(\s\d+)\b */
    if (lit_ci(p, i, "GO") && u_space(at(p, i + 2))) {
        size_t d = digit_run(p, i + 3);
        if (d > i + 3 && wb_after(p, d))
            return d - i;
    }
    if ((e = PHRASE(p, i, "LATERAL", "VIEW", "EXPLODE|INLINE|PARSE_URL_TUPLE|POSEXPLODE|STACK")))
        return e - i;
    return 0;
}

/* (AT|WITH')\s+TIME\s+ZONE\s+'[^']+' */
static size_t rx_tzcast(const struct sp *p, size_t i)
{
    size_t j = lit_ci(p, i, "AT");
    if (!j)
        j = lit_ci(p, i, "WITH'");
    if (!j)
        return 0;
    j += i;
    static const char *const words[] = {"TIME", "ZONE"};
    for (size_t w = 0; w < 2; w++) {
        size_t k = skip_spaces(p, j);
        size_t l = k > j ? lit_ci(p, k, words[w]) : 0;
        if (!l)
            return 0;
        j = k + l;
    }
    size_t k = skip_spaces(p, j);
    if (k == j || at(p, k) != '\'')
        return 0;
    size_t m = k + 1;
    while (m < p->n && p->cp[m] != '\'')
        m++;
    return m > k + 1 && at(p, m) == '\'' ? m + 1 - i : 0;
}

/* (NOT\s+)?(LIKE|ILIKE|RLIKE)\b and (NOT\s+)?(REGEXP)(\s+(BINARY))?\b */
static size_t rx_like(const struct sp *p, size_t i)
{
    size_t e;
    if ((e = PHRASE(p, i, "NOT", "LIKE|ILIKE|RLIKE")) || (e = PHRASE(p, i, "LIKE|ILIKE|RLIKE")) ||
        (e = PHRASE(p, i, "NOT", "REGEXP", "BINARY")) || (e = PHRASE(p, i, "NOT", "REGEXP")) ||
        (e = PHRASE(p, i, "REGEXP", "BINARY")) || (e = PHRASE(p, i, "REGEXP")))
        return e - i;
    return 0;
}

/* \w[$#\w]* */
static size_t rx_word(const struct sp *p, size_t i)
{
    if (!u_word(at(p, i)))
        return 0;
    size_t j = i + 1;
    while (j < p->n && (u_word(p->cp[j]) || p->cp[j] == '$' || p->cp[j] == '#'))
        j++;
    return j - i;
}

static size_t rx_charset(const struct sp *p, size_t i, const char *set, bool many)
{
    size_t j = i;
    while (j < p->n && p->cp[j] < 0x80 && p->cp[j] && strchr(set, (int)p->cp[j])) {
        j++;
        if (!many)
            break;
    }
    return j - i;
}

/* (\->>?|#>>?|@>|<@|\?\|?|\?&|\-|#\-) */
static size_t rx_json_op(const struct sp *p, size_t i)
{
    uint32_t c = at(p, i), d = at(p, i + 1);
    if ((c == '-' || c == '#') && d == '>')
        return at(p, i + 2) == '>' ? 3 : 2;
    if ((c == '@' && d == '>') || (c == '<' && d == '@'))
        return 2;
    if (c == '?')
        return (d == '|' || d == '&') ? 2 : 1;
    if (c == '-')
        return 1;
    if (c == '#' && d == '-')
        return 2;
    return 0;
}

/* One token at i: its type and length (>= 1). */
static size_t lex_one(struct sp *p, size_t i, enum tt *type)
{
    size_t m;
    uint32_t c = p->cp[i];
#define RULE(expr, t)    \
    if ((m = (expr))) {  \
        *type = (t);     \
        return m;        \
    }
    RULE(rx_line_comment(p, i, true), TT_COMMENT_SINGLE_HINT);
    RULE(rx_block_comment(p, i, true), TT_COMMENT_MULTI_HINT);
    RULE(rx_line_comment(p, i, false), TT_COMMENT_SINGLE);
    RULE(rx_block_comment(p, i, false), TT_COMMENT_MULTI);
    RULE(c == '\r' ? (at(p, i + 1) == '\n' ? 2u : 1u) : c == '\n', TT_NEWLINE);
    RULE(u_space(c), TT_WS);
    RULE(c == ':' && at(p, i + 1) == '=' ? 2 : 0, TT_ASSIGNMENT);
    RULE(c == ':' && at(p, i + 1) == ':' ? 2 : 0, TT_PUNCT);
    RULE(c == '*', TT_WILDCARD);
    RULE(rx_quoted(p, i, 2, '`'), TT_NAME);
    RULE(rx_quoted(p, i, 3, 0xB4), TT_NAME);
    RULE(rx_dollar(p, i), TT_LITERAL);
    RULE(c == '?', TT_NAME_PLACEHOLDER);
    RULE(rx_percent_placeholder(p, i), TT_NAME_PLACEHOLDER);
    RULE(rx_sigil_placeholder(p, i), TT_NAME_PLACEHOLDER);
    RULE(c == '\\' ? (word_run(p, i + 1) > i + 1 ? word_run(p, i + 1) - i : 0) : 0, TT_COMMAND);
    /* a word right after a '.' is part of a key, whatever word it is */
    RULE(rx_name_after_dot(p, i), TT_NAME);
    {
        size_t e;
        if ((e = PHRASE(p, i, "CASE|IN|VALUES|USING|FROM|AS"))) {
            *type = TT_KEYWORD;
            return e - i;
        }
    }
    RULE(rx_at_name(p, i), TT_NAME);
    RULE(rx_name_ahead(p, i, '.'), TT_NAME);
    RULE(rx_name_ahead(p, i, '('), TT_NAME);
    RULE(rx_hex(p, i), TT_NUM_HEX);
    RULE(rx_float_exp(p, i), TT_NUM_FLOAT);
    RULE(rx_float(p, i), TT_NUM_FLOAT);
    RULE(rx_integer(p, i), TT_NUM_INT);
    RULE(rx_quoted(p, i, 0, '\''), TT_STR_SINGLE);
    RULE(rx_quoted(p, i, 1, '"'), TT_STR_SYMBOL);
    RULE(rx_bracket_name(p, i), TT_NAME);
    RULE(rx_join(p, i), TT_KEYWORD);
    {
        enum tt t;
        if ((m = rx_phrases(p, i, &t))) {
            *type = t;
            return m;
        }
    }
    RULE(rx_tzcast(p, i), TT_KW_TZCAST);
    RULE(rx_like(p, i), TT_OP_CMP);
    if ((m = rx_word(p, i))) {
        *type = word_type(p, i, m);
        return m;
    }
    RULE(rx_charset(p, i, ";:()[],.", false), TT_PUNCT);
    RULE(rx_json_op(p, i), TT_OPERATOR);
    RULE(rx_charset(p, i, "<>=~!", true), TT_OP_CMP);
    RULE(rx_charset(p, i, "+/@#%^&|-", true), TT_OPERATOR);
#undef RULE
    *type = TT_ERROR;
    return 1;
}

/* ------------------------------------------------------------------------
 * 3. Token tree, statement splitting and grouping (sqlparse's engine)
 * ---------------------------------------------------------------------- */

static struct tok *tok_new(struct sp *p, enum tt type, enum gcls cls, uint32_t b, uint32_t e)
{
    struct tok *t = sp_alloc(p, sizeof *t);
    if (!t)
        return NULL;
    *t = (struct tok){.tt = type, .cls = cls, .b = b, .e = e};
    return t;
}

static bool tok_push(struct sp *p, struct tok *list, struct tok *t)
{
    if (list->n == list->cap) {
        uint32_t cap = list->cap ? list->cap * 2 : 8;
        struct tok **k = karena_realloc(p->ctx->arena, list->kid, list->cap * sizeof *k,
                                        cap * sizeof *k);
        if (!k) {
            p->oom = true;
            return false;
        }
        list->kid = k;
        list->cap = cap;
    }
    list->kid[list->n++] = t;
    return true;
}

static const char *tok_text(struct sp *p, const struct tok *t)
{
    char *s = karena_strndup(p->ctx->arena, p->src + t->b, t->e - t->b);
    if (!s) {
        p->oom = true;
        return "";
    }
    return s;
}

static size_t tok_len(const struct tok *t)
{
    return t->e - t->b;
}

/* Token value equals `s` exactly (case-sensitive). */
static bool tok_is(const struct sp *p, const struct tok *t, const char *s)
{
    size_t n = strlen(s);
    return tok_len(t) == n && memcmp(p->src + t->b, s, n) == 0;
}

/* Token value equals `s` after ASCII upper-casing (sqlparse's normalized). */
static bool tok_is_upper(const struct sp *p, const struct tok *t, const char *s)
{
    size_t n = strlen(s);
    if (tok_len(t) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p->src[t->b + i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (c != s[i])
            return false;
    }
    return true;
}

static bool tt_keyword(enum tt t)
{
    return t >= TT_KEYWORD && t <= TT_KW_TZCAST;
}

static bool tt_whitespace(enum tt t)
{
    return t == TT_WS || t == TT_NEWLINE;
}

static bool tt_comment(enum tt t)
{
    return t >= TT_COMMENT_SINGLE && t <= TT_COMMENT_MULTI_HINT;
}

static bool tt_name_any(enum tt t)
{
    return t == TT_NAME || t == TT_NAME_BUILTIN || t == TT_NAME_PLACEHOLDER;
}

static bool tt_number_any(enum tt t)
{
    return t == TT_NUM_HEX || t == TT_NUM_FLOAT || t == TT_NUM_INT;
}

/* sqlparse's T_NUMERICAL + T_STRING + T_NAME, compared by exact type. */
static bool tt_value(enum tt t)
{
    return t == TT_NUM_INT || t == TT_NUM_FLOAT || t == TT_STR_SINGLE || t == TT_STR_SYMBOL ||
           t == TT_NAME || t == TT_NAME_PLACEHOLDER;
}

/* Token.match(ttype, values): type by identity, keyword values upper-cased.
 * `vals` is a NULL-terminated list, or NULL for "any value". */
static bool tok_match(const struct sp *p, const struct tok *t, enum tt type,
                      const char *const *vals)
{
    if (!t || t->tt != type || t->cls != G_NONE)
        return false;
    if (!vals)
        return true;
    for (; *vals; vals++)
        if (tt_keyword(type) ? tok_is_upper(p, t, *vals) : tok_is(p, t, *vals))
            return true;
    return false;
}

#define MATCH(p, t, type, ...) tok_match((p), (t), (type), (const char *const[]){__VA_ARGS__, NULL})

static bool is_ws_tok(const struct tok *t)
{
    return t->cls == G_NONE && tt_whitespace(t->tt);
}

/* token_next / token_prev: the index of the next (previous) token after
 * (before) idx, skipping whitespace; -1 when there is none. */
static long tl_next(const struct tok *l, long idx, bool skip_ws)
{
    if (idx < 0)
        return -1;
    for (long i = idx + 1; i < (long)l->n; i++)
        if (!(skip_ws && is_ws_tok(l->kid[i])))
            return i;
    return -1;
}

static long tl_prev(const struct tok *l, long idx, bool skip_ws)
{
    if (idx < 0)
        return -1;
    for (long i = idx - 1; i >= 0; i--)
        if (!(skip_ws && is_ws_tok(l->kid[i])))
            return i;
    return -1;
}

static struct tok *tl_at(const struct tok *l, long idx)
{
    return idx >= 0 && idx < (long)l->n ? l->kid[idx] : NULL;
}

typedef bool (*tok_pred)(const struct sp *p, const struct tok *t);

/* token_next_by: first index > idx whose token satisfies pred. */
static long tl_next_by(const struct sp *p, const struct tok *l, long idx, tok_pred pred)
{
    for (long i = idx + 1; i < (long)l->n; i++)
        if (pred(p, l->kid[i]))
            return i;
    return -1;
}

/* group_tokens(): replaces l->kid[start..end] with a group of class cls
 * (or, with extend, appends them to kid[start] when it is one already). */
static struct tok *tl_group(struct sp *p, struct tok *l, enum gcls cls, long start, long end,
                            bool extend)
{
    struct tok *first = l->kid[start];
    struct tok *g;
    long from = start;
    if (extend && first->cls == cls) {
        g = first;
        from = start + 1;
    } else {
        g = tok_new(p, TT_GROUP, cls, first->b, first->e);
        if (!g)
            return NULL;
    }
    for (long i = from; i <= end; i++)
        if (!tok_push(p, g, l->kid[i]))
            return NULL;
    g->e = l->kid[end]->e;
    l->kid[start] = g;
    long removed = end - start;
    memmove(&l->kid[start + 1], &l->kid[end + 1], (l->n - (size_t)end - 1) * sizeof *l->kid);
    l->n -= (uint32_t)removed;
    return g;
}

static bool too_many(struct sp *p, const struct tok *l, int depth)
{
    if (depth > SP_MAX_GROUPING_DEPTH || l->n > SP_MAX_GROUPING_TOKENS) {
        p->parse_error = true;
        return true;
    }
    return false;
}

static bool failed(const struct sp *p)
{
    return p->oom || p->parse_error;
}

/* Snapshot of a list's children, as sqlparse's `list(tlist)`. */
static struct tok **snapshot(struct sp *p, const struct tok *l)
{
    struct tok **s = sp_alloc(p, (l->n + 1) * sizeof *s);
    if (s)
        memcpy(s, l->kid, l->n * sizeof *s);
    return s;
}

/* --- _group_matching: open/close pairs (parentheses, CASE ... END, ...) */

struct pair_cls {
    enum gcls cls;
    enum tt open_tt;
    const char *const *open;
    enum tt close_tt;
    const char *const *close;
};

static const struct pair_cls pair_classes[] = {
    {G_SQUARE, TT_PUNCT, (const char *const[]){"[", NULL}, TT_PUNCT,
     (const char *const[]){"]", NULL}},
    {G_PAREN, TT_PUNCT, (const char *const[]){"(", NULL}, TT_PUNCT,
     (const char *const[]){")", NULL}},
    {G_CASE, TT_KEYWORD, (const char *const[]){"CASE", NULL}, TT_KEYWORD,
     (const char *const[]){"END", NULL}},
    {G_IF, TT_KEYWORD, (const char *const[]){"IF", NULL}, TT_KEYWORD,
     (const char *const[]){"END IF", NULL}},
    {G_FOR, TT_KEYWORD, (const char *const[]){"FOR", "FOREACH", NULL}, TT_KEYWORD,
     (const char *const[]){"END LOOP", NULL}},
    {G_BEGIN, TT_KEYWORD, (const char *const[]){"BEGIN", NULL}, TT_KEYWORD,
     (const char *const[]){"END", NULL}},
};

static void group_matching(struct sp *p, struct tok *l, const struct pair_cls *pc, int depth)
{
    if (too_many(p, l, depth))
        return;
    struct tok **snap = snapshot(p, l);
    if (!snap)
        return;
    size_t n = l->n, nopen = 0;
    long *opens = sp_alloc(p, (n + 1) * sizeof *opens);
    if (!opens)
        return;
    long offset = 0;
    for (size_t idx = 0; idx < n && !failed(p); idx++) {
        struct tok *t = snap[idx];
        long tidx = (long)idx - offset;
        if (is_ws_tok(t))
            continue;
        if (t->cls != G_NONE && t->cls != pc->cls) {
            group_matching(p, t, pc, depth + 1);
            continue;
        }
        if (tok_match(p, t, pc->open_tt, pc->open)) {
            opens[nopen++] = tidx;
        } else if (tok_match(p, t, pc->close_tt, pc->close)) {
            if (nopen == 0)
                continue;
            long open = opens[--nopen];
            tl_group(p, l, pc->cls, open, tidx, false);
            offset += tidx - open;
        }
    }
}

/* --- _group: tokens joined by a middle token (a.b, x < y, a, b, ...) */

struct joiner {
    enum gcls cls;
    bool (*match)(struct sp *p, struct tok *t);
    bool (*valid_prev)(struct sp *p, struct tok *t);
    bool (*valid_next)(struct sp *p, struct tok *t);
    /* post(): the span to group, given prev/match/next indexes */
    void (*post)(struct sp *p, struct tok *l, long pidx, long tidx, long nidx, long *from,
                 long *to);
    bool extend;
    bool recurse;
};

static void group_joined(struct sp *p, struct tok *l, const struct joiner *j, int depth)
{
    if (too_many(p, l, depth))
        return;
    struct tok **snap = snapshot(p, l);
    if (!snap)
        return;
    size_t n = l->n;
    long offset = 0, pidx = -1;
    struct tok *prev = NULL;
    for (size_t idx = 0; idx < n && !failed(p); idx++) {
        struct tok *t = snap[idx];
        long tidx = (long)idx - offset;
        if (tidx < 0 || is_ws_tok(t))
            continue;
        if (j->recurse && t->cls != G_NONE && t->cls != j->cls)
            group_joined(p, t, j, depth + 1);
        if (j->match(p, t)) {
            long nidx = tl_next(l, tidx, true);
            if (prev && j->valid_prev(p, prev) && j->valid_next(p, tl_at(l, nidx))) {
                long from, to;
                j->post(p, l, pidx, tidx, nidx, &from, &to);
                struct tok *g = tl_group(p, l, j->cls, from, to, j->extend);
                if (!g)
                    return;
                offset += to - from;
                pidx = from;
                prev = g;
                continue;
            }
        }
        pidx = tidx;
        prev = t;
    }
}

static void post_prev_next(struct sp *p, struct tok *l, long pidx, long tidx, long nidx,
                           long *from, long *to)
{
    (void)p, (void)l, (void)tidx;
    *from = pidx;
    *to = nidx;
}

static bool any_tok(struct sp *p, struct tok *t)
{
    (void)p;
    return t != NULL;
}

static bool yes_tok(struct sp *p, struct tok *t)
{
    (void)p, (void)t;
    return true;
}

/* group_period: a.b, a.`b`, a.'b', a.* */
static bool period_match(struct sp *p, struct tok *t)
{
    return MATCH(p, t, TT_PUNCT, ".") || MATCH(p, t, TT_OPERATOR, "->", "->>");
}

static bool period_valid_prev(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_SQUARE || t->cls == G_IDENTIFIER ||
           (t->cls == G_NONE && (t->tt == TT_NAME || t->tt == TT_STR_SYMBOL));
}

static void period_post(struct sp *p, struct tok *l, long pidx, long tidx, long nidx, long *from,
                        long *to)
{
    (void)p;
    struct tok *next = tl_at(l, nidx);
    bool ok = next && (next->cls == G_SQUARE || next->cls == G_FUNCTION ||
                       (next->cls == G_NONE &&
                        (next->tt == TT_NAME || next->tt == TT_STR_SYMBOL ||
                         next->tt == TT_WILDCARD || next->tt == TT_STR_SINGLE)));
    *from = pidx;
    *to = ok ? nidx : tidx;
}

/* group_arrays: name[...] */
static bool arrays_match(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_SQUARE;
}

static bool arrays_valid_prev(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_SQUARE || t->cls == G_IDENTIFIER || t->cls == G_FUNCTION ||
           (t->cls == G_NONE && (t->tt == TT_NAME || t->tt == TT_STR_SYMBOL));
}

static void post_prev_match(struct sp *p, struct tok *l, long pidx, long tidx, long nidx,
                            long *from, long *to)
{
    (void)p, (void)l, (void)nidx;
    *from = pidx;
    *to = tidx;
}

static void post_match_next(struct sp *p, struct tok *l, long pidx, long tidx, long nidx,
                            long *from, long *to)
{
    (void)p, (void)l, (void)pidx;
    *from = tidx;
    *to = nidx;
}

/* group_typecasts: a::int */
static bool typecast_match(struct sp *p, struct tok *t)
{
    return MATCH(p, t, TT_PUNCT, "::");
}

/* group_tzcasts */
static bool tzcast_match(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && t->tt == TT_KW_TZCAST;
}

static bool tzcast_valid_next(struct sp *p, struct tok *t)
{
    return t && (is_ws_tok(t) || MATCH(p, t, TT_KEYWORD, "AS") ||
                 tok_match(p, t, TT_STR_SINGLE, NULL));
}

/* group_typed_literal: DATE '2020-01-01', INTERVAL '1' DAY */
static bool typed_open(struct sp *p, struct tok *t)
{
    return tok_match(p, t, TT_NAME_BUILTIN, NULL) || MATCH(p, t, TT_KEYWORD, "TIMESTAMP");
}

static bool typed_close(struct sp *p, struct tok *t)
{
    return t && tok_match(p, t, TT_STR_SINGLE, NULL);
}

static bool typed_is(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_TYPED_LITERAL;
}

static bool typed_extend(struct sp *p, struct tok *t)
{
    return t && MATCH(p, t, TT_KEYWORD, "DAY", "HOUR", "MINUTE", "MONTH", "SECOND", "YEAR");
}

/* group_operator: a + b */
static bool operator_match(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && (t->tt == TT_OPERATOR || t->tt == TT_WILDCARD);
}

static bool operand_cls(enum gcls c)
{
    return c == G_PAREN || c == G_FUNCTION || c == G_IDENTIFIER || c == G_OPERATION ||
           c == G_TYPED_LITERAL;
}

static bool operator_valid(struct sp *p, struct tok *t)
{
    if (!t)
        return false;
    if (t->cls == G_SQUARE || operand_cls(t->cls))
        return true;
    if (t->cls == G_NONE && tt_value(t->tt))
        return true;
    return MATCH(p, t, TT_KEYWORD, "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP");
}

static void operator_post(struct sp *p, struct tok *l, long pidx, long tidx, long nidx,
                          long *from, long *to)
{
    (void)p;
    l->kid[tidx]->tt = TT_OPERATOR;
    *from = pidx;
    *to = nidx;
}

/* group_comparison: a = b */
static bool comparison_match(struct sp *p, struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && t->tt == TT_OP_CMP;
}

static bool comparison_valid(struct sp *p, struct tok *t)
{
    if (!t)
        return false;
    if (operand_cls(t->cls))
        return true;
    if (t->cls == G_NONE && tt_value(t->tt))
        return true;
    return t->cls == G_NONE && tt_keyword(t->tt) && tok_is_upper(p, t, "NULL");
}

/* group_as: x AS y */
static bool as_match(struct sp *p, struct tok *t)
{
    return t->cls == G_NONE && tt_keyword(t->tt) && tok_is_upper(p, t, "AS");
}

static bool as_valid_prev(struct sp *p, struct tok *t)
{
    bool kw = t->cls == G_NONE && tt_keyword(t->tt);
    return (kw && tok_is_upper(p, t, "NULL")) || !kw;
}

static bool as_valid_next(struct sp *p, struct tok *t)
{
    (void)p;
    return t && !(t->cls == G_NONE &&
                  (t->tt == TT_KW_DML || t->tt == TT_KW_DDL || t->tt == TT_KW_CTE));
}

/* group_assignment: a := b */
static bool assign_match(struct sp *p, struct tok *t)
{
    return MATCH(p, t, TT_ASSIGNMENT, ":=");
}

static bool assign_valid(struct sp *p, struct tok *t)
{
    (void)p;
    return t && !(t->cls == G_NONE && t->tt == TT_KEYWORD);
}

static bool is_semicolon(const struct sp *p, const struct tok *t)
{
    return MATCH(p, t, TT_PUNCT, ";");
}

static void assign_post(struct sp *p, struct tok *l, long pidx, long tidx, long nidx, long *from,
                        long *to)
{
    (void)tidx;
    long s = tl_next_by(p, l, nidx, is_semicolon);
    *from = pidx;
    *to = s > 0 ? s : nidx;
}

/* group_identifier_list: a, b, c */
static bool comma_match(struct sp *p, struct tok *t)
{
    return MATCH(p, t, TT_PUNCT, ",");
}

static bool idlist_valid(struct sp *p, struct tok *t)
{
    if (!t)
        return false;
    switch (t->cls) {
    case G_FUNCTION:
    case G_CASE:
    case G_IDENTIFIER:
    case G_COMPARISON:
    case G_IDLIST:
    case G_OPERATION:
        return true;
    case G_NONE:
        break;
    default:
        return false;
    }
    if (MATCH(p, t, TT_KEYWORD, "NULL", "ROLE"))
        return true;
    return tt_value(t->tt) || t->tt == TT_KEYWORD || t->tt == TT_WILDCARD;
}

static const struct joiner j_period = {G_IDENTIFIER, period_match, period_valid_prev, yes_tok,
                                       period_post, true, true};
static const struct joiner j_arrays = {G_IDENTIFIER, arrays_match, arrays_valid_prev, yes_tok,
                                       post_prev_match, true, false};
static const struct joiner j_typecast = {G_IDENTIFIER, typecast_match, any_tok, any_tok,
                                         post_prev_next, true, true};
static const struct joiner j_tzcast = {G_IDENTIFIER, tzcast_match, any_tok, tzcast_valid_next,
                                       post_prev_next, true, true};
static const struct joiner j_typed1 = {G_TYPED_LITERAL, typed_open, any_tok, typed_close,
                                       post_match_next, false, true};
static const struct joiner j_typed2 = {G_TYPED_LITERAL, typed_is, any_tok, typed_extend,
                                       post_match_next, true, true};
static const struct joiner j_operator = {G_OPERATION, operator_match, operator_valid,
                                         operator_valid, operator_post, false, true};
static const struct joiner j_comparison = {G_COMPARISON, comparison_match, comparison_valid,
                                           comparison_valid, post_prev_next, false, true};
static const struct joiner j_as = {G_IDENTIFIER, as_match, as_valid_prev, as_valid_next,
                                   post_prev_next, true, true};
static const struct joiner j_assign = {G_ASSIGNMENT, assign_match, assign_valid, assign_valid,
                                       assign_post, true, true};
static const struct joiner j_idlist = {G_IDLIST, comma_match, idlist_valid, idlist_valid,
                                       post_prev_next, true, true};

/* --- the @recurse passes: children first (except class `skip`), then l */

typedef void (*pass_fn)(struct sp *p, struct tok *l);

static void recurse_pass(struct sp *p, struct tok *l, enum gcls skip, pass_fn f, int depth)
{
    if (depth > 4 * SP_MAX_GROUPING_DEPTH) { /* Python's recursion limit */
        p->parse_error = true;
        return;
    }
    for (uint32_t i = 0; i < l->n && !failed(p); i++) {
        struct tok *t = l->kid[i];
        if (t->cls != G_NONE && (skip == G_NONE || t->cls != skip))
            recurse_pass(p, t, skip, f, depth + 1);
    }
    if (!failed(p))
        f(p, l);
}

static bool is_comment_tok(const struct sp *p, const struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && tt_comment(t->tt);
}

static void pass_comments(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_comment_tok);
    while (tidx >= 0 && !failed(p)) {
        long e = tidx;
        while (e < (long)l->n &&
               (is_comment_tok(p, l->kid[e]) ||
                (l->kid[e]->cls == G_NONE && l->kid[e]->tt == TT_NEWLINE)))
            e++;
        if (e < (long)l->n)
            tl_group(p, l, G_COMMENT, tidx, e - 1, false);
        tidx = tl_next_by(p, l, tidx, is_comment_tok);
    }
}

static bool is_name_hier(const struct sp *p, const struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && tt_name_any(t->tt);
}

static bool is_over_kw(const struct sp *p, const struct tok *t)
{
    return MATCH(p, t, TT_KEYWORD, "OVER");
}

static void pass_over(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_over_kw);
    while (tidx >= 0 && !failed(p)) {
        long nidx = tl_next(l, tidx, true);
        struct tok *nx = tl_at(l, nidx);
        if (nx && (nx->cls == G_PAREN || is_name_hier(p, nx)))
            tl_group(p, l, G_OVER, tidx, nidx, false);
        tidx = tl_next_by(p, l, tidx, is_over_kw);
    }
}

static void pass_functions(struct sp *p, struct tok *l)
{
    bool has_create = false, has_table = false, has_as = false;
    for (uint32_t i = 0; i < l->n; i++) {
        struct tok *t = l->kid[i];
        has_create |= tok_is_upper(p, t, "CREATE");
        has_table |= tok_is_upper(p, t, "TABLE");
        has_as |= tok_is(p, t, "AS");
    }
    if (has_create && has_table && !has_as)
        return;
    long tidx = tl_next_by(p, l, -1, is_name_hier);
    while (tidx >= 0 && !failed(p)) {
        long nidx = tl_next(l, tidx, true);
        struct tok *nx = tl_at(l, nidx);
        if (nx && nx->cls == G_PAREN) {
            long oidx = tl_next(l, nidx, true);
            struct tok *ov = tl_at(l, oidx);
            tl_group(p, l, G_FUNCTION, tidx, ov && ov->cls == G_OVER ? oidx : nidx, false);
        }
        tidx = tl_next_by(p, l, tidx, is_name_hier);
    }
}

static bool is_where_open(const struct sp *p, const struct tok *t)
{
    return MATCH(p, t, TT_KEYWORD, "WHERE");
}

static bool is_where_close(const struct sp *p, const struct tok *t)
{
    return MATCH(p, t, TT_KEYWORD, "ORDER BY", "GROUP BY", "LIMIT", "UNION", "UNION ALL",
                 "EXCEPT", "INTERSECT", "HAVING", "RETURNING", "INTO");
}

static void pass_where(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_where_open);
    while (tidx >= 0 && !failed(p)) {
        long eidx = tl_next_by(p, l, tidx, is_where_close);
        long end;
        if (eidx < 0) /* the last groupable token */
            end = (long)l->n - 1 - (l->cls == G_PAREN || l->cls == G_SQUARE);
        else
            end = eidx - 1;
        tl_group(p, l, G_WHERE, tidx, end, false);
        tidx = tl_next_by(p, l, tidx, is_where_open);
    }
}

static bool is_plain_name(const struct sp *p, const struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && (t->tt == TT_NAME || t->tt == TT_STR_SYMBOL);
}

static void pass_identifier(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_plain_name);
    while (tidx >= 0 && !failed(p)) {
        tl_group(p, l, G_IDENTIFIER, tidx, tidx, false);
        tidx = tl_next_by(p, l, tidx, is_plain_name);
    }
}

static bool is_order_kw(const struct sp *p, const struct tok *t)
{
    (void)p;
    return t->cls == G_NONE && t->tt == TT_KW_ORDER;
}

static void pass_order(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_order_kw);
    while (tidx >= 0 && !failed(p)) {
        long pidx = tl_prev(l, tidx, true);
        struct tok *pv = tl_at(l, pidx);
        if (pv && (pv->cls == G_IDENTIFIER || (pv->cls == G_NONE && tt_number_any(pv->tt)))) {
            tl_group(p, l, G_IDENTIFIER, pidx, tidx, false);
            tidx = pidx;
        }
        tidx = tl_next_by(p, l, tidx, is_order_kw);
    }
}

static bool is_alias_head(const struct sp *p, const struct tok *t)
{
    (void)p;
    switch (t->cls) {
    case G_PAREN:
    case G_FUNCTION:
    case G_CASE:
    case G_IDENTIFIER:
    case G_OPERATION:
    case G_COMPARISON:
        return true;
    case G_NONE:
        return tt_number_any(t->tt);
    default:
        return false;
    }
}

static void pass_aliased(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_alias_head);
    while (tidx >= 0 && !failed(p)) {
        long nidx = tl_next(l, tidx, true);
        struct tok *nx = tl_at(l, nidx);
        if (nx && nx->cls == G_IDENTIFIER)
            tl_group(p, l, G_IDENTIFIER, tidx, nidx, true);
        tidx = tl_next_by(p, l, tidx, is_alias_head);
    }
}

static bool is_comment_group(const struct sp *p, const struct tok *t)
{
    (void)p;
    return t->cls == G_COMMENT;
}

static void pass_align_comments(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_comment_group);
    while (tidx >= 0 && !failed(p)) {
        long pidx = tl_prev(l, tidx, true);
        struct tok *pv = tl_at(l, pidx);
        if (pv && pv->cls != G_NONE) {
            /* extends the previous group, whatever its class */
            for (long i = pidx + 1; i <= tidx; i++)
                tok_push(p, pv, l->kid[i]);
            pv->e = l->kid[tidx]->e;
            memmove(&l->kid[pidx + 1], &l->kid[tidx + 1],
                    (l->n - (size_t)tidx - 1) * sizeof *l->kid);
            l->n -= (uint32_t)(tidx - pidx);
            tidx = pidx;
        }
        tidx = tl_next_by(p, l, tidx, is_comment_group);
    }
}

static bool is_values_kw(const struct sp *p, const struct tok *t)
{
    return MATCH(p, t, TT_KEYWORD, "VALUES");
}

static void pass_values(struct sp *p, struct tok *l)
{
    long tidx = tl_next_by(p, l, -1, is_values_kw);
    long start = tidx, end = -1;
    while (tidx >= 0) {
        if (l->kid[tidx]->cls == G_PAREN)
            end = tidx;
        tidx = tl_next(l, tidx, true);
    }
    if (end != -1)
        tl_group(p, l, G_VALUES, start, end, true);
}

/* grouping.group(): every pass, in sqlparse's order. */
static void group_statement(struct sp *p, struct tok *stmt)
{
    recurse_pass(p, stmt, G_COMMENT, pass_comments, 0);
    for (size_t i = 0; i < N_OF(pair_classes) && !failed(p); i++)
        group_matching(p, stmt, &pair_classes[i], 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_OVER, pass_over, 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_FUNCTION, pass_functions, 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_WHERE, pass_where, 0);
    if (!failed(p))
        group_joined(p, stmt, &j_period, 0);
    if (!failed(p))
        group_joined(p, stmt, &j_arrays, 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_IDENTIFIER, pass_identifier, 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_IDENTIFIER, pass_order, 0);
    static const struct joiner *const joins[] = {&j_typecast, &j_tzcast,   &j_typed1,
                                                 &j_typed2,   &j_operator, &j_comparison,
                                                 &j_as};
    for (size_t i = 0; i < N_OF(joins) && !failed(p); i++)
        group_joined(p, stmt, joins[i], 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_NONE, pass_aliased, 0);
    if (!failed(p))
        group_joined(p, stmt, &j_assign, 0);
    if (!failed(p))
        recurse_pass(p, stmt, G_NONE, pass_align_comments, 0);
    if (!failed(p))
        group_joined(p, stmt, &j_idlist, 0);
    if (!failed(p))
        pass_values(p, stmt);
}

/* StatementSplitter: where sqlparse ends one statement and starts the next. */
struct splitter {
    bool in_declare, in_case, is_create, seen_begin, consume_ws;
    int begin_depth, level;
};

static int split_level_change(const struct sp *p, struct splitter *s, const struct tok *t)
{
    if (MATCH(p, t, TT_PUNCT, "("))
        return 1;
    if (MATCH(p, t, TT_PUNCT, ")"))
        return -1;
    if (!tt_keyword(t->tt))
        return 0;
    if (t->tt == TT_KW_DDL && tok_len(t) >= 6 &&
        tok_is_upper(p, &(struct tok){.b = t->b, .e = t->b + 6}, "CREATE")) {
        s->is_create = true;
        return 0;
    }
    if (tok_is_upper(p, t, "DECLARE") && s->is_create && s->begin_depth == 0) {
        s->in_declare = true;
        return 1;
    }
    if (tok_is_upper(p, t, "BEGIN")) {
        s->begin_depth++;
        s->seen_begin = true;
        return s->is_create ? 1 : 0;
    }
    static const char *const txn[] = {"TRANSACTION", "WORK",      "TRAN",     "DISTRIBUTED",
                                      "DEFERRED",    "IMMEDIATE", "EXCLUSIVE", NULL};
    if (s->seen_begin && t->tt == TT_KEYWORD) {
        for (const char *const *w = txn; *w; w++)
            if (tok_is_upper(p, t, *w)) {
                s->begin_depth = s->begin_depth > 0 ? s->begin_depth - 1 : 0;
                s->seen_begin = false;
                return 0;
            }
    }
    if (tok_is_upper(p, t, "END")) {
        if (!s->in_case)
            s->begin_depth = s->begin_depth > 0 ? s->begin_depth - 1 : 0;
        else
            s->in_case = false;
        return -1;
    }
    static const char *const blocks[] = {"IF", "FOR", "WHILE", "CASE", NULL};
    for (const char *const *w = blocks; *w; w++)
        if (tok_is_upper(p, t, *w) && s->is_create && s->begin_depth > 0) {
            if (!strcmp(*w, "CASE"))
                s->in_case = true;
            return 1;
        }
    if (tok_is_upper(p, t, "END IF") || tok_is_upper(p, t, "END FOR") ||
        tok_is_upper(p, t, "END WHILE"))
        return -1;
    return 0;
}

/* Tokenizes p's text and splits it into statements (grouped). Returns the
 * statement count; the statements are stored in *out. */
static size_t sp_parse(struct sp *p, struct tok ***out)
{
    struct tok all = {0};
    for (size_t i = 0; i < p->n && !p->oom;) {
        enum tt type;
        size_t len = lex_one(p, i, &type);
        struct tok *t = tok_new(p, type, G_NONE, p->off[i], p->off[i + len]);
        if (t)
            tok_push(p, &all, t);
        i += len;
    }
    struct tok **stmts = sp_alloc(p, (all.n + 1) * sizeof *stmts);
    *out = stmts;
    if (!stmts)
        return 0;
    size_t ns = 0;
    struct splitter s = {0};
    struct tok *cur = NULL;
    for (uint32_t i = 0; i < all.n && !p->oom; i++) {
        struct tok *t = all.kid[i];
        if (s.consume_ws && !(t->tt == TT_WS || t->tt == TT_COMMENT_SINGLE)) {
            stmts[ns++] = cur;
            cur = NULL;
            s = (struct splitter){0};
        }
        s.level += split_level_change(p, &s, t);
        if (!cur && !(cur = tok_new(p, TT_GROUP, G_STATEMENT, t->b, t->b)))
            break;
        tok_push(p, cur, t);
        cur->e = t->e;
        if (MATCH(p, t, TT_PUNCT, ";")) {
            if (s.seen_begin)
                s.begin_depth = s.begin_depth > 0 ? s.begin_depth - 1 : 0;
            s.seen_begin = false;
            if (s.level <= 0 && s.begin_depth == 0)
                s.consume_ws = true;
        } else if (t->tt == TT_KEYWORD && tok_len(t) >= 2 && !memcmp(p->src + t->b, "GO", 2) &&
                   (tok_len(t) == 2 || strchr(" \t\n\r\v\f", p->src[t->b + 2]))) {
            s.consume_ws = true;
        } else if (!(t->tt == TT_WS || t->tt == TT_NEWLINE || t->tt == TT_COMMENT_SINGLE ||
                     t->tt == TT_COMMENT_MULTI) &&
                   !(t->tt == TT_KEYWORD && tok_is_upper(p, t, "BEGIN"))) {
            s.seen_begin = false;
        }
    }
    if (cur) {
        bool blank = true;
        for (uint32_t i = 0; i < cur->n; i++)
            blank &= tt_whitespace(cur->kid[i]->tt);
        if (!blank)
            stmts[ns++] = cur;
    }
    for (size_t i = 0; i < ns && !failed(p); i++)
        group_statement(p, stmts[i]);
    *out = stmts;
    return ns;
}

/* ------------------------------------------------------------------------
 * Python-flavoured text helpers (MLflow's messages are Python f-strings)
 * ---------------------------------------------------------------------- */

static enum keel_err nomem(struct keel_ctx *ctx)
{
    return keel_fail(ctx, KEEL_E_NOMEM, "out of memory while compiling a search");
}

/* repr() of a Python str given as UTF-8 (non-printable code points are
 * escaped; the printable set is approximated). */
static char *py_repr_str(struct keel_ctx *ctx, const char *s, size_t len)
{
    struct kbuf b;
    kbuf_init(&b, 8 * len + 16);
    json_pyrepr_str(&b, s, len);
    char *out = b.data ? karena_strndup(ctx->arena, b.data, b.len) : NULL;
    kbuf_free(&b);
    return out;
}

/* repr() of a Python bytes object. */
static char *py_repr_bytes(struct keel_ctx *ctx, const unsigned char *s, size_t len)
{
    bool has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    struct kbuf b;
    kbuf_init(&b, 4 * len + 16);
    kbuf_addc(&b, 'b');
    kbuf_addc(&b, q);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '\\' || c == (unsigned char)q) {
            kbuf_addc(&b, '\\');
            kbuf_addc(&b, (char)c);
        } else if (c == '\t' || c == '\n' || c == '\r') {
            kbuf_adds(&b, c == '\t' ? "\\t" : c == '\n' ? "\\n" : "\\r");
        } else if (c < 0x20 || c >= 0x7F) {
            kbuf_printf(&b, "\\x%02x", c);
        } else {
            kbuf_addc(&b, (char)c);
        }
    }
    kbuf_addc(&b, q);
    char *out = b.data ? karena_strndup(ctx->arena, b.data, b.len) : NULL;
    kbuf_free(&b);
    return out;
}


/* "{'a', 'b'}": a Python set (or a list/tuple with other brackets). */
static char *py_seq(struct keel_ctx *ctx, const char *const *items, const char *brackets)
{
    struct kbuf b;
    kbuf_init(&b, 4096);
    kbuf_addc(&b, brackets[0]);
    for (size_t i = 0; items[i]; i++)
        kbuf_printf(&b, "%s'%s'", i ? ", " : "", items[i]);
    kbuf_addc(&b, brackets[1]);
    char *out = b.data ? karena_strndup(ctx->arena, b.data, b.len) : NULL;
    kbuf_free(&b);
    return out ? out : "";
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

/* Python's str.strip(): leading and trailing Unicode whitespace. */
static char *py_strip(struct keel_ctx *ctx, const char *s)
{
    struct sp p = {.ctx = ctx};
    if (!utf8_load(&p, s))
        return karena_strdup(ctx->arena, s);
    size_t i = 0, j = p.n;
    while (i < j && u_space(p.cp[i]))
        i++;
    while (j > i && u_space(p.cp[j - 1]))
        j--;
    return karena_strndup(ctx->arena, s + p.off[i], p.off[j] - p.off[i]);
}

/* Text that may not be UTF-8 (only possible from a query string), with each
 * bad byte replaced by U+FFFD. */
static const char *utf8_shown(struct keel_ctx *ctx, const char *s)
{
    size_t len = strlen(s);
    struct kbuf b;
    kbuf_init(&b, 3 * len + 1);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_next(s, len, i, &cp);
        if (k)
            kbuf_add(&b, s + i, k);
        else
            kbuf_adds(&b, "\xEF\xBF\xBD");
        i += k ? k : 1;
    }
    const char *out = karena_strndup(ctx->arena, b.data ? b.data : "", b.len);
    kbuf_free(&b);
    return out ? out : "";
}

/* ------------------------------------------------------------------------
 * 4. MLflow's reading of a parsed filter
 * ---------------------------------------------------------------------- */

enum ent { ENT_METRIC, ENT_PARAM, ENT_TAG, ENT_ATTR, ENT_DATASET };

static const char *const ent_names[] = {"metric", "parameter", "tag", "attribute", "dataset",
                                        NULL};

static const struct {
    const char *word;
    enum ent ent;
} ent_aliases[] = {
    {"metric", ENT_METRIC},   {"metrics", ENT_METRIC},   {"parameter", ENT_PARAM},
    {"parameters", ENT_PARAM}, {"param", ENT_PARAM},      {"params", ENT_PARAM},
    {"tag", ENT_TAG},          {"tags", ENT_TAG},         {"attribute", ENT_ATTR},
    {"attr", ENT_ATTR},        {"attributes", ENT_ATTR},  {"run", ENT_ATTR},
    {"dataset", ENT_DATASET},  {"datasets", ENT_DATASET},
};

/* The key sets MLflow checks against. Message order is free: MLflow prints
 * Python sets, whose order changes from one server process to the next. */
static const char *const run_search_attrs[] = {
    "run_id",   "run_name", "user_id",  "status",   "start_time", "end_time",
    "artifact_uri", "created", "Created", "run name", "Run name",  "Run Name", NULL};
static const char *const run_order_attrs[] = {"run_id",     "run_name", "user_id",
                                              "status",     "start_time", "end_time",
                                              "artifact_uri", "created", "Created", NULL};
static const char *const run_numeric_attrs[] = {"start_time", "end_time", "created", "Created",
                                                NULL};
static const char *const exp_search_attrs[] = {"name", "creation_time", "last_update_time",
                                               NULL};
static const char *const exp_order_attrs[] = {"name", "experiment_id", "creation_time",
                                              "last_update_time", NULL};
static const char *const exp_numeric_attrs[] = {"creation_time", "last_update_time", NULL};
static const char *const dataset_attrs[] = {"name", "digest", "context", NULL};
/* Model registry (SearchModelUtils, SearchModelVersionUtils). */
static const char *const rm_search_attrs[] = {"name", NULL};
static const char *const mv_search_attrs[] = {"name", "version_number", "run_id", "source_path",
                                              NULL};
static const char *const mv_order_attrs[] = {"name", "version_number", "creation_timestamp",
                                             "last_updated_timestamp", NULL};
static const char *const mv_numeric_attrs[] = {"version_number", "creation_timestamp",
                                               "last_updated_timestamp", NULL};

/* Comparator sets (SearchUtils.VALID_*_COMPARATORS). */
static const char *const cmp_numeric[] = {">", ">=", "!=", "=", "<", "<=", NULL};
static const char *const cmp_string[] = {"!=", "=", "LIKE", "ILIKE", NULL};
static const char *const cmp_string_attr[] = {"!=", "=", "LIKE", "ILIKE", "IN", "NOT IN", NULL};

struct dialect {
    bool experiments;
    const char *const *search_attrs;
    const char *const *order_attrs;
    const char *const *numeric_attrs;
    /* Model registry filters: identifiers read by _get_model_search_identifier
     * (entity types attribute/tag/tags, taken as written; the attribute key
     * checked before its quotes are stripped), values by the registry's
     * _get_value (numeric values only where numeric_attrs is set), and the
     * comparator upper-cased. */
    bool registry;
};

static const struct dialect runs_dialect = {false, run_search_attrs, run_order_attrs,
                                            run_numeric_attrs, false};
static const struct dialect exps_dialect = {true, exp_search_attrs, exp_order_attrs,
                                            exp_numeric_attrs, false};
static const struct dialect rm_dialect = {
    .search_attrs = rm_search_attrs, .order_attrs = rm_search_attrs, .registry = true};
static const struct dialect mv_dialect = {.search_attrs = mv_search_attrs,
                                          .order_attrs = mv_order_attrs,
                                          .numeric_attrs = mv_numeric_attrs,
                                          .registry = true};
/* Model version order_by entries go through SearchExperimentsUtils's
 * _get_identifier with the model version keys. */
static const struct dialect mv_order_dialect = {true, mv_search_attrs, mv_order_attrs,
                                                mv_numeric_attrs, false};

enum vkind { VAL_NUM, VAL_STR, VAL_LIST };

struct clause {
    enum ent type;
    const char *key;
    const char *cmp; /* as written (runs upper-case it later) */
    enum vkind vk;
    const char *text; /* VAL_NUM: the number as written; VAL_STR: the string */
    bool is_int;      /* VAL_NUM from an integer literal */
    const char **items; /* VAL_LIST */
    size_t n_items;
};

struct reader {
    struct sp *p;
    const struct dialect *d;
    struct keel_ctx *ctx;
};

static enum keel_err fail_ipv(struct keel_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum keel_err fail_ipv(struct keel_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_failv(ctx, KEEL_E_INVALID_PARAMETER, fmt, ap);
    va_end(ap);
    return KEEL_E_INVALID_PARAMETER;
}

static bool quoted_with(const char *s, char q)
{
    size_t n = strlen(s);
    return n >= 2 && s[0] == q && s[n - 1] == q;
}

static const char *trim_ends(struct keel_ctx *ctx, const char *s)
{
    return karena_strndup(ctx->arena, s + 1, strlen(s) - 2);
}

static const char *trim_backticks(struct keel_ctx *ctx, const char *s)
{
    return quoted_with(s, '`') ? trim_ends(ctx, s) : s;
}

/* _strip_quotes(value, expect_quoted_value) */
static enum keel_err strip_quotes(struct keel_ctx *ctx, const char *s, bool expect,
                                  const char **out)
{
    if (quoted_with(s, '\'') || quoted_with(s, '"')) {
        *out = trim_ends(ctx, s);
        return *out ? KEEL_OK : nomem(ctx);
    }
    if (expect)
        return fail_ipv(ctx,
                        "Parameter value is either not quoted or unidentified quote types used "
                        "for string value %s. Use either single or double quotes.",
                        s);
    *out = s;
    return KEEL_OK;
}

/* _get_identifier(): "<entity>.<key>" or a bare attribute. */
static enum keel_err read_identifier(const struct reader *r, const char *text,
                                     const char *const *valid_attrs, enum ent *type,
                                     const char **key)
{
    struct keel_ctx *ctx = r->ctx;
    const char *dot = strchr(text, '.');
    const char *k = text;
    *type = ENT_ATTR;
    if (dot) {
        const char *et = karena_strndup(ctx->arena, text, (size_t)(dot - text));
        if (!et)
            return nomem(ctx);
        k = dot + 1;
        if (r->d->experiments && strcmp(et, "attribute") && strcmp(et, "tag") && strcmp(et, "tags"))
            return fail_ipv(ctx,
                            "Invalid entity type '%s'. Valid entity types are ('attribute', "
                            "'tag', 'tags')",
                            et);
        et = trim_backticks(ctx, et);
        size_t i = 0;
        while (i < N_OF(ent_aliases) && strcmp(ent_aliases[i].word, et))
            i++;
        if (i == N_OF(ent_aliases))
            return fail_ipv(ctx, "Invalid entity type '%s'. Valid values are %s", et,
                            py_seq(ctx, ent_names, "[]"));
        *type = ent_aliases[i].ent;
    }
    enum keel_err e = strip_quotes(ctx, k, false, &k);
    if (e)
        return e;
    k = trim_backticks(ctx, k);
    if (!k)
        return nomem(ctx);
    if (*type == ENT_ATTR && !in_list(k, valid_attrs))
        return fail_ipv(ctx, "Invalid attribute key '%s' specified. Valid keys are '%s'", k,
                        py_seq(ctx, valid_attrs, "{}"));
    if (*type == ENT_DATASET && !in_list(k, dataset_attrs))
        return fail_ipv(ctx, "Invalid dataset key '%s' specified. Valid keys are '%s'", k,
                        py_seq(ctx, dataset_attrs, "{}"));
    *key = k;
    return KEEL_OK;
}

/* Python's str.upper() of a comparator: ASCII letters, and the two
 * non-ASCII letters the tokenizer lets into a comparator word (dotless i
 * and long s, which upper-case to I and S). */
static char *upper_ascii(struct keel_ctx *ctx, const char *s)
{
    char *u = karena_strdup(ctx->arena, s);
    if (!u)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; u[i]; i++) {
        unsigned char c = (unsigned char)u[i], d = (unsigned char)u[i + 1];
        if ((c == 0xC4 && d == 0xB1) || (c == 0xC5 && d == 0xBF)) {
            u[o++] = c == 0xC4 ? 'I' : 'S';
            i++;
        } else {
            u[o++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
    }
    u[o] = '\0';
    return u;
}

/* _get_model_search_identifier() / _get_model_version_search_identifier() */
static enum keel_err read_registry_identifier(const struct reader *r, const char *text,
                                              enum ent *type, const char **key)
{
    struct keel_ctx *ctx = r->ctx;
    const char *dot = strchr(text, '.');
    const char *k = text;
    *type = ENT_ATTR;
    if (dot) {
        const char *et = karena_strndup(ctx->arena, text, (size_t)(dot - text));
        if (!et)
            return nomem(ctx);
        k = dot + 1;
        if (strcmp(et, "attribute") && strcmp(et, "tag") && strcmp(et, "tags"))
            return fail_ipv(ctx,
                            "Invalid entity type '%s'. Valid entity types are ('attribute', "
                            "'tag', 'tags')",
                            et);
        *type = strcmp(et, "attribute") ? ENT_TAG : ENT_ATTR;
    }
    if (*type == ENT_ATTR && !in_list(k, r->d->search_attrs))
        return fail_ipv(ctx, "Invalid attribute key '%s' specified. Valid keys are '%s'", k,
                        py_seq(ctx, r->d->search_attrs, "{}"));
    enum keel_err e = strip_quotes(ctx, k, false, &k);
    if (e)
        return e;
    k = trim_backticks(ctx, k);
    if (!k)
        return nomem(ctx);
    *key = k;
    return KEEL_OK;
}

/* --- IN lists: MLflow checks the token shape, then runs Python's
 * ast.literal_eval() on the parenthesised text. */

static void put_utf8(struct kbuf *b, uint32_t v)
{
    char u[4];
    size_t n;
    if (v < 0x80) {
        u[0] = (char)v;
        n = 1;
    } else if (v < 0x800) {
        u[0] = (char)(0xC0 | (v >> 6));
        u[1] = (char)(0x80 | (v & 0x3F));
        n = 2;
    } else if (v < 0x10000) {
        u[0] = (char)(0xE0 | (v >> 12));
        u[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        u[2] = (char)(0x80 | (v & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (v >> 18));
        u[1] = (char)(0x80 | ((v >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((v >> 6) & 0x3F));
        u[3] = (char)(0x80 | (v & 0x3F));
        n = 4;
    }
    kbuf_add(b, u, n);
}

/* One Python escape after the backslash at s[*i]; false on a syntax error. */
static bool py_escape(const char *s, size_t *i, struct kbuf *b)
{
    char c = s[*i + 1];
    static const char simple_in[] = "\\'\"abfnrtv", simple_out[] = "\\'\"\a\b\f\n\r\t\v";
    const char *hit = c ? strchr(simple_in, c) : NULL;
    if (hit) {
        kbuf_addc(b, simple_out[hit - simple_in]);
        *i += 2;
        return true;
    }
    if (c >= '0' && c <= '7') {
        uint32_t v = 0;
        size_t k = 1;
        while (k <= 3 && s[*i + k] >= '0' && s[*i + k] <= '7')
            v = v * 8 + (uint32_t)(s[*i + k++] - '0');
        put_utf8(b, v);
        *i += k;
        return true;
    }
    size_t need = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (need) {
        uint32_t v = 0;
        for (size_t k = 0; k < need; k++) {
            int h = keel_hex_digit(s[*i + 2 + k]);
            if (h < 0)
                return false;
            v = v * 16 + (uint32_t)h;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return false;
        put_utf8(b, v);
        *i += 2 + need;
        return true;
    }
    if (c == 'N' || c == '\0' || c == '\n' || c == '\r')
        return false; /* named escapes are not resolved; see the file comment */
    kbuf_addc(b, '\\'); /* unknown escapes stay as written */
    *i += 1;
    return true;
}

/* A Python string literal at s[*i] (quote ' or "), appended to b. */
static bool py_string(const char *s, size_t *i, struct kbuf *b)
{
    char q = s[*i];
    size_t j = *i + 1;
    for (;;) {
        char c = s[j];
        if (c == '\0' || c == '\n' || c == '\r')
            return false;
        if (c == q)
            break;
        if (c == '\\') {
            if (!py_escape(s, &j, b))
                return false;
            continue;
        }
        kbuf_addc(b, c);
        j++;
    }
    *i = j + 1;
    return true;
}

static size_t py_skip_ws(const char *s, size_t i)
{
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t' || s[i] == '\f' || s[i] == '\n' || s[i] == '\r')
            i++;
        if (s[i] != '#')
            return i;
        while (s[i] && s[i] != '\n')
            i++;
    }
}

/* ast.literal_eval() of "('a', 'b' 'c', ...)": a str or a tuple of str.
 * Returns false where Python would raise. */
static bool py_literal_strings(struct keel_ctx *ctx, const char *s, const char ***items,
                               size_t *n)
{
    size_t i = py_skip_ws(s, 0), cap = 8, cnt = 0;
    const char **out = karena_alloc(ctx->arena, cap * sizeof *out);
    if (!out || s[i] != '(')
        return false;
    i = py_skip_ws(s, i + 1);
    while (s[i] != ')') {
        if (s[i] != '\'' && s[i] != '"')
            return false;
        struct kbuf b;
        kbuf_init(&b, strlen(s) * 4 + 1);
        bool ok = true;
        while (ok && (s[i] == '\'' || s[i] == '"')) {
            ok = py_string(s, &i, &b);
            i = py_skip_ws(s, i);
        }
        char *str = ok ? karena_strndup(ctx->arena, b.data ? b.data : "", b.len) : NULL;
        kbuf_free(&b);
        if (!str)
            return false;
        if (cnt == cap) {
            out = karena_realloc(ctx->arena, out, cap * sizeof *out, 2 * cap * sizeof *out);
            if (!out)
                return false;
            cap *= 2;
        }
        out[cnt++] = str;
        if (s[i] == ',') {
            i = py_skip_ws(s, i + 1);
        } else if (s[i] != ')') {
            return false;
        }
    }
    if (cnt == 0 || s[py_skip_ws(s, i + 1)] != '\0')
        return false;
    /* ('a') is a str and ('a',) a tuple: both are one item */
    *items = out;
    *n = cnt;
    return true;
}

/* Python's str.islower() (cased letters approximated outside ASCII). */
static bool py_islower(const char *s)
{
    bool cased = false;
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        uint32_t v = c;
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if (k > 1) {
            v = c & (0x7Fu >> k);
            for (size_t j = 1; j < k && s[i + j]; j++)
                v = (v << 6) | ((unsigned char)s[i + j] & 0x3Fu);
        }
        i += k;
        static const struct range upper[] = {{'A', 'Z'},     {0xC0, 0xD6},   {0xD8, 0xDE},
                                             {0x391, 0x3A9}, {0x400, 0x42F}};
        static const struct range lower[] = {{'a', 'z'},     {0xB5, 0xB5},   {0xDF, 0xF6},
                                             {0xF8, 0xFF},   {0x3AC, 0x3CE}, {0x430, 0x45F}};
        bool up = in_ranges(v, upper, N_OF(upper)) || (v >= 0x100 && v <= 0x17F && v % 2 == 0);
        bool lo = in_ranges(v, lower, N_OF(lower)) || (v >= 0x100 && v <= 0x17F && v % 2 == 1);
        if (up)
            return false;
        cased |= lo;
    }
    return cased;
}

static bool tok_plain(const struct tok *t, enum tt type)
{
    return t->cls == G_NONE && t->tt == type;
}

/* _parse_run_ids(): the IN list's strings, upper-case ones dropped. */
static enum keel_err read_list(const struct reader *r, struct tok *paren, struct clause *c)
{
    struct keel_ctx *ctx = r->ctx;
    const char *text = tok_text(r->p, paren);
    static const char *const ill_formed =
        "While parsing a list in the query, expected a non-empty list of string values, but got "
        "ill-formed list.";
    uint32_t n = paren->n >= 2 ? paren->n - 2 : 0;
    struct tok **in = paren->kid + 1;
    if (n == 0)
        return fail_ipv(ctx, "While parsing a list in the query, expected a non-empty list of "
                             "string values, but got empty list");
    if (!(n == 1 && tok_plain(in[0], TT_STR_SINGLE))) {
        if (in[0]->cls != G_IDLIST)
            return fail_ipv(ctx, "%s", ill_formed);
        for (uint32_t i = 0; i < in[0]->n; i++) {
            struct tok *t = in[0]->kid[i];
            if (!(tok_plain(t, TT_STR_SINGLE) || tok_plain(t, TT_PUNCT) || tok_plain(t, TT_WS)))
                return fail_ipv(ctx,
                                "While parsing a list in the query, expected string value, "
                                "punctuation, or whitespace, but got different type in list: %s",
                                text);
        }
    }
    const char **items;
    size_t cnt;
    if (!py_literal_strings(ctx, text, &items, &cnt))
        return fail_ipv(ctx, "%s", ill_formed);
    size_t kept = 0;
    for (size_t i = 0; i < cnt; i++)
        if (py_islower(items[i]))
            items[kept++] = items[i];
    if (kept > SEARCH_MAX_LIST_VALUES)
        return fail_ipv(ctx, "Too many values in a list in the filter string: %zu, the maximum is %d",
                        kept, SEARCH_MAX_LIST_VALUES);
    c->vk = VAL_LIST;
    c->items = items;
    c->n_items = kept;
    return KEEL_OK;
}

static bool is_number_tok(const struct tok *t)
{
    return tok_plain(t, TT_NUM_INT) || tok_plain(t, TT_NUM_FLOAT);
}

static bool is_string_tok(const struct tok *t)
{
    return tok_plain(t, TT_STR_SINGLE) || t->cls == G_IDENTIFIER;
}

static enum keel_err value_number(const struct reader *r, struct tok *v, struct clause *c)
{
    c->vk = VAL_NUM;
    c->text = tok_text(r->p, v);
    c->is_int = v->tt == TT_NUM_INT;
    return KEEL_OK;
}

static enum keel_err value_string(const struct reader *r, struct tok *v, struct clause *c)
{
    c->vk = VAL_STR;
    return strip_quotes(r->ctx, tok_text(r->p, v), true, &c->text);
}

/* _get_value(): the right-hand side, by entity type. */
static enum keel_err read_value(const struct reader *r, struct tok *v, struct clause *c)
{
    struct keel_ctx *ctx = r->ctx;
    const char *vt = tok_text(r->p, v);
    switch (c->type) {
    case ENT_METRIC:
        if (!is_number_tok(v))
            return fail_ipv(ctx, "Expected numeric value type for metric. Found %s", vt);
        return value_number(r, v, c);
    case ENT_PARAM:
    case ENT_TAG:
        if (is_string_tok(v))
            return value_string(r, v, c);
        return fail_ipv(ctx, "Expected a quoted string value for %s (e.g. 'my-value'). Got value %s",
                        ent_names[c->type], vt);
    case ENT_ATTR:
        if (in_list(c->key, r->d->numeric_attrs)) {
            if (!is_number_tok(v))
                return fail_ipv(ctx, "Expected numeric value type for numeric attribute: %s. Found %s",
                                c->key, vt);
            return value_number(r, v, c);
        }
        if (is_string_tok(v))
            return value_string(r, v, c);
        if (v->cls == G_PAREN) {
            if (strcmp(c->key, "run_id"))
                return fail_ipv(ctx, "Only the 'run_id' attribute supports comparison with a list "
                                     "of quoted string values.");
            return read_list(r, v, c);
        }
        return fail_ipv(ctx, "Expected a quoted string value for attributes. Got value %s", vt);
    case ENT_DATASET:
        if (is_string_tok(v))
            return value_string(r, v, c);
        if (v->cls == G_PAREN)
            return read_list(r, v, c);
        return fail_ipv(ctx, "Expected a quoted string value for dataset attributes. Got value %s",
                        vt);
    }
    return keel_fail(ctx, KEEL_E_INTERNAL, "unknown search entity");
}

/* The registry's _get_value(): strings for tags; strings, a run_id list, or
 * (model versions only) a number for attributes. */
static enum keel_err read_registry_value(const struct reader *r, struct tok *v, struct clause *c)
{
    struct keel_ctx *ctx = r->ctx;
    const char *vt = tok_text(r->p, v);
    if (c->type == ENT_TAG) {
        if (is_string_tok(v))
            return value_string(r, v, c);
        return fail_ipv(ctx,
                        "Expected a quoted string value for tag (e.g. 'my-value'). Got value %s",
                        vt);
    }
    if (is_string_tok(v))
        return value_string(r, v, c);
    if (v->cls == G_PAREN) {
        if (strcmp(c->key, "run_id"))
            return fail_ipv(ctx, "Only the 'run_id' attribute supports comparison with a list "
                                 "of quoted string values.");
        return read_list(r, v, c);
    }
    if (r->d->numeric_attrs && is_number_tok(v)) {
        if (!in_list(c->key, r->d->numeric_attrs))
            return fail_ipv(ctx,
                            "Only the '%s' attributes support comparison with numeric values.",
                            py_seq(ctx, r->d->numeric_attrs, "{}"));
        return value_number(r, v, c);
    }
    return fail_ipv(ctx,
                    "Expected a quoted string value or a list of quoted string values for "
                    "attributes. Got value %s",
                    vt);
}

/* A statement-level item after MLflow joins "x IN (...)" / "x NOT IN (...)"
 * into comparisons: either a token, or a synthetic comparison. */
struct item {
    struct tok *t; /* NULL for a synthetic comparison */
    struct tok *left, *right;
    const char *cmp;
};

static bool is_kw(const struct sp *p, const struct tok *t, const char *w)
{
    return tok_match(p, t, TT_KEYWORD, (const char *const[]){w, NULL});
}

/* _join_in_comparison_tokens() over the statement's non-blank tokens. */
static size_t join_in(struct sp *p, struct tok **v, size_t n, struct item *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        struct tok *first = v[i];
        if (n - i < 3) {
            for (; i < n; i++)
                out[o++] = (struct item){.t = v[i]};
            break;
        }
        if (first->cls != G_IDENTIFIER) {
            out[o++] = (struct item){.t = first};
            i++;
            continue;
        }
        struct tok *second = v[i + 1], *third = v[i + 2];
        if (is_kw(p, second, "IN") && third->cls == G_PAREN) {
            out[o++] = (struct item){.left = first, .right = third, .cmp = tok_text(p, second)};
            i += 3;
            continue;
        }
        if (i + 3 >= n) {
            out[o++] = (struct item){.t = first};
            out[o++] = (struct item){.t = second};
            out[o++] = (struct item){.t = third};
            break;
        }
        struct tok *fourth = v[i + 3];
        if (is_kw(p, second, "NOT") && is_kw(p, third, "IN") && fourth->cls == G_PAREN) {
            out[o++] = (struct item){.left = first, .right = fourth, .cmp = "NOT IN"};
            i += 4;
            continue;
        }
        for (size_t k = 0; k < 4; k++)
            out[o++] = (struct item){.t = v[i + k]};
        i += 4;
    }
    return o;
}

/* _get_comparison() for one comparison item. */
static enum keel_err read_comparison(const struct reader *r, const struct item *it,
                                     struct clause *c)
{
    struct sp *p = r->p;
    struct tok *left = it->left, *right = it->right;
    const char *cmp = it->cmp;
    if (it->t) {
        struct tok *nb[4];
        size_t k = 0;
        for (uint32_t i = 0; i < it->t->n; i++)
            if (!is_ws_tok(it->t->kid[i])) {
                if (k < 4)
                    nb[k] = it->t->kid[i];
                k++;
            }
        if (k != 3)
            return fail_ipv(r->ctx, "Invalid comparison clause. Expected 3 tokens found %zu", k);
        if (nb[0]->cls != G_IDENTIFIER)
            return fail_ipv(r->ctx, "Invalid comparison clause. Expected 'Identifier' found '%s'",
                            tok_text(p, nb[0]));
        left = nb[0];
        cmp = tok_text(p, nb[1]);
        right = nb[2];
    }
    *c = (struct clause){.cmp = cmp};
    if (r->d->registry) {
        if (!(c->cmp = upper_ascii(r->ctx, cmp)))
            return nomem(r->ctx);
        enum keel_err e = read_registry_identifier(r, tok_text(p, left), &c->type, &c->key);
        return e ? e : read_registry_value(r, right, c);
    }
    enum keel_err e =
        read_identifier(r, tok_text(p, left), r->d->search_attrs, &c->type, &c->key);
    if (e)
        return e;
    return read_value(r, right, c);
}

static enum keel_err report_invalid(const struct reader *r, struct tok **bad, size_t n)
{
    struct kbuf b;
    kbuf_init(&b, SEARCH_MAX_FILTER_LEN * 4);
    for (size_t i = 0; i < n; i++) {
        kbuf_adds(&b, i ? ", " : "");
        if (r->d->experiments || r->d->registry)
            kbuf_add(&b, r->p->src + bad[i]->b, tok_len(bad[i]));
        else
            kbuf_printf(&b, "'%.*s'", (int)tok_len(bad[i]), r->p->src + bad[i]->b);
    }
    enum keel_err e = fail_ipv(r->ctx, "Invalid clause(s) in filter string: %s",
                               b.data ? b.data : "");
    kbuf_free(&b);
    return e;
}

/* The filter's text into the tokenizer, within the length ceiling. Bytes
 * that are not UTF-8 (from a query string) are read as Werkzeug decodes
 * them, and *filter becomes that text. */
static enum keel_err load_filter(struct keel_ctx *ctx, struct sp *p, const char **filter)
{
    size_t flen = strlen(*filter);
    if (flen > SEARCH_MAX_FILTER_LEN)
        return fail_ipv(ctx, "Filter string is too long: %zu bytes, the maximum is %d", flen,
                        SEARCH_MAX_FILTER_LEN);
    if (!utf8_load(p, *filter) && !p->oom)
        utf8_load(p, *filter = utf8_shown(ctx, *filter));
    return p->oom ? nomem(ctx) : KEEL_OK;
}

/* parse_search_filter(): the filter's clauses, in order. */
static enum keel_err read_filter(struct keel_ctx *ctx, const struct dialect *d, const char *filter,
                                 struct clause **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!filter || !*filter)
        return KEEL_OK;
    struct sp p = {.ctx = ctx};
    enum keel_err le = load_filter(ctx, &p, &filter);
    if (le)
        return le;
    struct tok **stmts;
    size_t ns = sp_parse(&p, &stmts);
    if (p.oom)
        return nomem(ctx);
    if (p.parse_error)
        return fail_ipv(ctx, "Error on parsing filter '%s'", filter);
    if (ns == 0)
        return fail_ipv(ctx, "Invalid filter '%s'. Could not be parsed.", filter);
    if (ns > 1)
        return fail_ipv(ctx,
                        "Search filter contained multiple expression '%s'. Provide AND-ed "
                        "expression list.",
                        filter);
    struct tok *stmt = stmts[0];
    struct tok **nb = karena_alloc(ctx->arena, (stmt->n + 1) * sizeof *nb);
    struct item *items = karena_alloc(ctx->arena, (stmt->n + 1) * sizeof *items);
    struct tok **bad = karena_alloc(ctx->arena, (stmt->n + 1) * sizeof *bad);
    if (!nb || !items || !bad)
        return nomem(ctx);
    size_t nn = 0, nbad = 0, ncmp = 0;
    for (uint32_t i = 0; i < stmt->n; i++)
        if (!is_ws_tok(stmt->kid[i]))
            nb[nn++] = stmt->kid[i];
    size_t ni = join_in(&p, nb, nn, items);
    for (size_t i = 0; i < ni; i++) {
        struct tok *t = items[i].t;
        if (!t || t->cls == G_COMPARISON)
            ncmp++;
        else if (!is_kw(&p, t, "AND"))
            bad[nbad++] = t;
    }
    struct reader r = {&p, d, ctx};
    if (nbad)
        return report_invalid(&r, bad, nbad);
    if (ncmp > SEARCH_MAX_CLAUSES)
        return fail_ipv(ctx, "Filter string has too many clauses: %zu, the maximum is %d", ncmp,
                        SEARCH_MAX_CLAUSES);
    struct clause *cl = karena_calloc(ctx->arena, ncmp + 1, sizeof *cl);
    if (!cl)
        return nomem(ctx);
    size_t k = 0;
    for (size_t i = 0; i < ni; i++) {
        if (items[i].t && items[i].t->cls != G_COMPARISON)
            continue;
        enum keel_err e = read_comparison(&r, &items[i], &cl[k++]);
        if (e)
            return e;
        if (p.oom)
            return nomem(ctx);
    }
    *out = cl;
    *n_out = k;
    return KEEL_OK;
}

/* ------------------------------------------------------------------------
 * 5. order_by entries
 * ---------------------------------------------------------------------- */

/* shlex.split(s) in POSIX mode (whitespace " \t\r\n", quotes ' and ",
 * backslash escapes outside quotes and, for \ and ", inside double quotes).
 * Returns the token count, or -1 where Python raises ValueError. */
static long shlex_split(struct keel_ctx *ctx, const char *s, char **tok, long max)
{
    size_t len = strlen(s), cl = 0;
    char *cur = karena_alloc(ctx->arena, len + 1);
    if (!cur)
        return -1;
    long n = 0;
    bool in_tok = false;
    char quote = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (quote) {
            if (c == '\0')
                return -1;
            if (c == quote) {
                quote = 0;
            } else if (quote == '"' && c == '\\') {
                char nx = s[i + 1];
                if (nx == '\0')
                    return -1;
                if (nx != '"' && nx != '\\')
                    cur[cl++] = '\\';
                cur[cl++] = nx;
                i++;
            } else {
                cur[cl++] = c;
            }
            continue;
        }
        if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (in_tok) {
                if (n < max)
                    tok[n] = karena_strndup(ctx->arena, cur, cl);
                n++;
            }
            in_tok = false;
            cl = 0;
            continue;
        }
        in_tok = true;
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\') {
            if (s[i + 1] == '\0')
                return -1;
            cur[cl++] = s[++i];
        } else {
            cur[cl++] = c;
        }
    }
    return n;
}

struct order_key {
    enum ent type;
    const char *key;
    bool asc;
};

/* _parse_order_by_string(): one order_by entry's key text (stripped, as
 * every caller strips it) and direction. */
static enum keel_err read_order_entry(struct keel_ctx *ctx, const char *entry, const char **key,
                                      bool *asc)
{
    size_t elen = strlen(entry);
    if (elen > SEARCH_MAX_ORDER_BY_LEN)
        return fail_ipv(ctx, "order_by clause is too long: %zu bytes, the maximum is %d", elen,
                        SEARCH_MAX_ORDER_BY_LEN);
    struct sp p = {.ctx = ctx};
    if (!utf8_load(&p, entry) && !p.oom) /* bytes from a query string: as Werkzeug decodes them */
        utf8_load(&p, entry = utf8_shown(ctx, entry));
    if (p.oom)
        return nomem(ctx);
    struct tok **stmts;
    size_t ns = sp_parse(&p, &stmts);
    if (p.oom)
        return nomem(ctx);
    if (p.parse_error)
        return fail_ipv(ctx, "Error on parsing order_by clause '%s'", entry);
    static const char *const unparsable = "Invalid order_by clause '%s'. Could not be parsed.";
    if (ns != 1)
        return fail_ipv(ctx, unparsable, entry);
    struct tok *st = stmts[0];
    struct tok *first = st->kid[0], *last = st->kid[st->n - 1];
    bool ts_first = tok_plain(first, TT_NAME_BUILTIN) && tok_is(&p, first, "timestamp");
    const char *value;
    if (st->n == 1 && first->cls == G_IDENTIFIER) {
        value = tok_text(&p, first);
    } else if (st->n == 1 && ts_first) {
        value = "timestamp";
    } else {
        bool mid_ws = true;
        for (uint32_t i = 1; i + 1 < st->n; i++)
            mid_ws &= is_ws_tok(st->kid[i]);
        if (!(ts_first && mid_ws && tok_plain(last, TT_KW_ORDER)))
            return fail_ipv(ctx, unparsable, entry);
        value = karena_sprintf(ctx->arena, "timestamp %s", tok_text(&p, last));
    }
    char *swapped = karena_strdup(ctx->arena, value);
    if (!swapped || p.oom)
        return nomem(ctx);
    for (char *c = swapped; *c; c++)
        if (*c == '`')
            *c = '"';
    char *parts[3];
    long np = shlex_split(ctx, swapped, parts, 3);
    if (np < 0)
        return keel_fail(ctx, KEEL_E_INTERNAL, "No closing quotation");
    *asc = true;
    if (np > 2)
        return fail_ipv(ctx, unparsable, entry);
    if (np == 2) {
        char *o = parts[1];
        for (char *c = o; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        if (strcmp(o, "asc") && strcmp(o, "desc"))
            return fail_ipv(ctx, "Invalid ordering key in order_by clause '%s'.", entry);
        *asc = !strcmp(o, "asc");
        value = parts[0];
    }
    *key = py_strip(ctx, value);
    return *key ? KEEL_OK : nomem(ctx);
}

/* _parse_order_by_string() then _get_identifier(): one order_by entry. */
static enum keel_err read_order_by(struct keel_ctx *ctx, const struct dialect *d,
                                   const char *entry, struct order_key *out)
{
    const char *stripped;
    enum keel_err e = read_order_entry(ctx, entry, &stripped, &out->asc);
    if (e)
        return e;
    struct reader r = {NULL, d, ctx};
    return read_identifier(&r, stripped, d->order_attrs, &out->type, &out->key);
}

/* ------------------------------------------------------------------------
 * 6. SQL
 * ---------------------------------------------------------------------- */

/* SearchUtils.translate_key_alias() */
static const char *run_key_alias(const char *key)
{
    if (!strcmp(key, "created") || !strcmp(key, "Created"))
        return "start_time";
    if (!strcmp(key, "run name") || !strcmp(key, "Run name") || !strcmp(key, "Run Name"))
        return "run_name";
    return key;
}

/* Attribute key -> column (runs AS r, experiments AS e). */
static const struct column {
    const char *key;
    const char *sql;
    bool numeric;
} run_columns[] = {
    {"run_id", "r.run_uuid", false},       {"run_name", "r.name", false},
    {"user_id", "r.user_id", false},       {"status", "r.status", false},
    {"artifact_uri", "r.artifact_uri", false}, {"start_time", "r.start_time", true},
    {"end_time", "r.end_time", true},
},
  exp_columns[] = {
      {"name", "e.name", false},
      {"experiment_id", "e.experiment_id", true},
      {"creation_time", "e.creation_time", true},
      {"last_update_time", "e.last_update_time", true},
};

static const struct column *find_column(const struct column *cols, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cols[i].key, key))
            return &cols[i];
    return NULL;
}

/* How each comparator is written in SQL; LIKE/ILIKE/IN have their own. */
enum opkind { OP_PLAIN, OP_LIKE, OP_ILIKE, OP_IN, OP_NOT_IN };

static const struct sql_op {
    const char *name;
    enum opkind kind;
    const char *sql;
} sql_ops[] = {
    {"=", OP_PLAIN, "="},   {"!=", OP_PLAIN, "!="},      {">", OP_PLAIN, ">"},
    {">=", OP_PLAIN, ">="}, {"<", OP_PLAIN, "<"},        {"<=", OP_PLAIN, "<="},
    {"LIKE", OP_LIKE, NULL}, {"ILIKE", OP_ILIKE, NULL}, {"IN", OP_IN, NULL},
    {"NOT IN", OP_NOT_IN, NULL},
};

static const struct sql_op *find_op(const char *name)
{
    for (size_t i = 0; i < N_OF(sql_ops); i++)
        if (!strcmp(sql_ops[i].name, name))
            return &sql_ops[i];
    return NULL;
}

/* Where one filter clause's rows live. */
enum source { SRC_COLUMN, SRC_KV, SRC_DATASET, SRC_DATASET_CONTEXT };

/* A metric/param/tag clause as a set the runs are matched against (fast
 * when the clause drives the search), and as a per-run lookup (fast when
 * another index drives it); both take the same binds. */
static const char *const kv_subquery[2][ENT_TAG + 1] = {
    {
        [ENT_METRIC] = "r.run_key IN (SELECT run_key FROM latest_metrics WHERE key = ? AND ",
        [ENT_PARAM] = "r.run_key IN (SELECT run_key FROM params WHERE key = ? AND ",
        [ENT_TAG] = "r.run_key IN (SELECT run_key FROM tags WHERE key = ? AND ",
    },
    {
        [ENT_METRIC] = "EXISTS (SELECT 1 FROM latest_metrics WHERE run_key = r.run_key AND "
                       "key = ? AND ",
        [ENT_PARAM] = "EXISTS (SELECT 1 FROM params WHERE run_key = r.run_key AND key = ? AND ",
        [ENT_TAG] = "EXISTS (SELECT 1 FROM tags WHERE run_key = r.run_key AND key = ? AND ",
    },
};

struct sqlb {
    struct keel_ctx *ctx;
    bool correlated; /* kv clauses as per-run lookups */
    struct kbuf text;
    struct search_bind *binds;
    size_t n, cap;
    bool failed;
};

static void sb_init(struct sqlb *s, struct keel_ctx *ctx)
{
    *s = (struct sqlb){.ctx = ctx};
    kbuf_init(&s->text, SEARCH_MAX_SQL_LEN);
}

static void sb_add(struct sqlb *s, const char *sql)
{
    if (kbuf_adds(&s->text, sql) != KEEL_OK)
        s->failed = true;
}

static struct search_bind *sb_bind(struct sqlb *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        if (cap > SEARCH_MAX_BINDS)
            cap = SEARCH_MAX_BINDS;
        struct search_bind *b = s->n < cap ? karena_realloc(s->ctx->arena, s->binds,
                                                            s->cap * sizeof *b, cap * sizeof *b)
                                           : NULL;
        if (!b) {
            s->failed = true;
            return NULL;
        }
        s->binds = b;
        s->cap = cap;
    }
    struct search_bind *b = &s->binds[s->n++];
    *b = (struct search_bind){0};
    return b;
}

static void sb_text(struct sqlb *s, const char *text)
{
    struct search_bind *b = sb_bind(s);
    if (b) {
        b->kind = SEARCH_BIND_TEXT;
        b->text = text;
    }
}

/* A number as MLflow binds it. Integers that fit int64 stay integers (SQLite
 * compares the same either way). */
static void sb_number(struct sqlb *s, const struct clause *c, bool as_double)
{
    struct search_bind *b = sb_bind(s);
    if (!b)
        return;
    char ascii[128];
    size_t o = 0;
    struct sp p = {.ctx = s->ctx};
    if (utf8_load(&p, c->text))
        for (size_t i = 0; i < p.n && o + 1 < sizeof ascii; i++) {
            int dv = u_digit_value(p.cp[i]);
            ascii[o++] = dv >= 0 ? (char)('0' + dv) : (char)p.cp[i];
        }
    ascii[o] = '\0';
    if (c->is_int && !as_double) {
        errno = 0;
        long long v = strtoll(ascii, NULL, 10);
        if (errno == 0) {
            b->kind = SEARCH_BIND_INT;
            b->i = v;
            return;
        }
    }
    b->kind = SEARCH_BIND_DOUBLE;
    b->d = strtod(ascii, NULL);
}

/* LIKE pattern -> GLOB pattern with the same meaning (see search.h). */
static const char *like_to_glob(struct keel_ctx *ctx, const char *like)
{
    size_t n = strlen(like);
    char *g = karena_alloc(ctx->arena, 3 * n + 1);
    if (!g)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = like[i];
        if (c == '%') {
            g[o++] = '*';
        } else if (c == '_') {
            g[o++] = '?';
        } else if (c == '*' || c == '?' || c == '[') {
            g[o++] = '[';
            g[o++] = c;
            g[o++] = ']';
        } else {
            g[o++] = c;
        }
    }
    g[o] = '\0';
    return g;
}

/* "<lhs> <op> <value>" with the value bound. */
static enum keel_err sb_compare(struct sqlb *s, const char *lhs, const struct sql_op *op,
                                const struct clause *c, bool numeric)
{
    if ((op->kind == OP_IN || op->kind == OP_NOT_IN) != (c->vk == VAL_LIST))
        return keel_fail(s->ctx, KEEL_E_INTERNAL,
                         "Error binding parameter: a list of values needs IN or NOT IN");
    switch (op->kind) {
    case OP_PLAIN:
        sb_add(s, lhs);
        sb_add(s, " ");
        sb_add(s, op->sql);
        sb_add(s, " ?");
        if (c->vk == VAL_NUM)
            sb_number(s, c, !numeric);
        else
            sb_text(s, c->text);
        break;
    case OP_LIKE:
    case OP_ILIKE: {
        const char *g = like_to_glob(s->ctx, c->text);
        if (!g)
            return nomem(s->ctx);
        bool ci = op->kind == OP_ILIKE;
        sb_add(s, ci ? "lower(" : "");
        sb_add(s, lhs);
        sb_add(s, ci ? ") GLOB lower(?)" : " GLOB ?");
        sb_text(s, g);
        break;
    }
    case OP_IN:
    case OP_NOT_IN:
        if (c->n_items == 0) {
            sb_add(s, op->kind == OP_IN ? "0" : "1");
            break;
        }
        sb_add(s, lhs);
        sb_add(s, op->kind == OP_IN ? " IN (" : " NOT IN (");
        for (size_t i = 0; i < c->n_items; i++) {
            sb_add(s, i ? ", ?" : "?");
            sb_text(s, c->items[i]);
        }
        sb_add(s, ")");
        break;
    }
    return KEEL_OK;
}

static enum keel_err fail_500(struct keel_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum keel_err fail_500(struct keel_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_failv(ctx, KEEL_E_INTERNAL, fmt, ap);
    va_end(ap);
    return KEEL_E_INTERNAL;
}

/*
 * MLflow's comparator check for one run filter clause (is_metric, is_param,
 * ... in SearchUtils): which set is allowed, which set the message prints,
 * whether it closes its quote and whether it is a 400 or a 500, per type.
 */
static const struct cmp_rule {
    const char *const *allowed;
    const char *const *printed;
    bool closing_quote;
    bool internal;
} run_cmp_rules[] = {
    [ENT_METRIC] = {cmp_numeric, cmp_numeric, false, false},
    [ENT_PARAM] = {cmp_string, cmp_string, true, false},
    [ENT_TAG] = {cmp_string, cmp_string, false, true},
    [ENT_DATASET] = {cmp_string_attr, cmp_string_attr, false, true},
};
static const struct cmp_rule string_attr_rule = {cmp_string_attr, cmp_string_attr, true, true};
static const struct cmp_rule numeric_attr_rule = {cmp_numeric, cmp_string_attr, false, true};

static enum keel_err check_cmp(struct keel_ctx *ctx, const struct cmp_rule *rule, const char *cmp)
{
    if (in_list(cmp, rule->allowed))
        return KEEL_OK;
    const char *set = py_seq(ctx, rule->printed, "{}");
    const char *q = rule->closing_quote ? "'" : "";
    if (rule->internal)
        return fail_500(ctx, "Invalid comparator '%s' not one of '%s%s", cmp, set, q);
    return fail_ipv(ctx, "Invalid comparator '%s' not one of '%s%s", cmp, set, q);
}

/* One run filter clause: comparator check, then its SQL. */
static enum keel_err run_clause_sql(struct sqlb *s, const struct clause *c)
{
    struct keel_ctx *ctx = s->ctx;
    const char *cmp = upper_ascii(ctx, c->cmp);
    if (!cmp)
        return nomem(ctx);
    const char *key = run_key_alias(c->key); /* MLflow translates every type's key */
    const struct column *col = NULL;
    const struct cmp_rule *rule = &run_cmp_rules[c->type];
    if (c->type == ENT_ATTR) {
        col = find_column(run_columns, N_OF(run_columns), key);
        if (!col)
            return keel_fail(ctx, KEEL_E_INTERNAL, "unknown run attribute %s", key);
        rule = col->numeric ? &numeric_attr_rule : &string_attr_rule;
    }
    enum keel_err e = check_cmp(ctx, rule, cmp);
    if (e)
        return e;
    const struct sql_op *op = find_op(cmp);
    if (!op)
        return keel_fail(ctx, KEEL_E_INTERNAL, "no SQL for comparator %s", cmp);
    sb_add(s, "(");
    if (c->type == ENT_ATTR && strcmp(key, "run_name")) {
        e = sb_compare(s, col->sql, op, c, col->numeric);
    } else if (c->type == ENT_ATTR || c->type == ENT_METRIC || c->type == ENT_PARAM ||
               c->type == ENT_TAG) {
        /* run_name is matched on the mlflow.runName tag, as MLflow does */
        bool run_name = c->type == ENT_ATTR;
        sb_add(s, kv_subquery[s->correlated][run_name ? ENT_TAG : c->type]);
        sb_text(s, run_name ? "mlflow.runName" : key);
        e = sb_compare(s, "value", op, c, c->type != ENT_METRIC);
        sb_add(s, ")");
    } else if (!strcmp(key, "context")) {
        sb_add(s, "r.run_uuid IN (SELECT i.destination_id FROM inputs i"
                  " JOIN datasets d ON d.dataset_uuid = i.source_id"
                  " JOIN input_tags it ON it.input_uuid = i.input_uuid"
                  " WHERE it.name = ? AND ");
        sb_text(s, "mlflow.data.context");
        e = sb_compare(s, "it.value", op, c, false);
        sb_add(s, ")");
    } else {
        sb_add(s, "r.run_uuid IN (SELECT i.destination_id FROM inputs i"
                  " JOIN datasets d ON d.dataset_uuid = i.source_id WHERE ");
        e = sb_compare(s, !strcmp(key, "name") ? "d.name" : "d.digest", op, c, false);
        sb_add(s, ")");
    }
    sb_add(s, ")");
    return e;
}

/* _get_search_experiments_filter_clauses(): note the comparator is taken
 * as written, so a lower-case `like` fails here while runs accept it. */
static enum keel_err exp_clause_sql(struct sqlb *s, const struct clause *c)
{
    struct keel_ctx *ctx = s->ctx;
    static const char *const plain_string_ops[] = {"=", "!=", "LIKE", "ILIKE", NULL};
    enum keel_err e;
    sb_add(s, "(");
    if (c->type == ENT_ATTR) {
        const struct column *col = find_column(exp_columns, N_OF(exp_columns), c->key);
        if (!col)
            return keel_fail(ctx, KEEL_E_INTERNAL, "unknown experiment attribute %s", c->key);
        e = check_cmp(ctx, col->numeric ? &numeric_attr_rule : &string_attr_rule, c->cmp);
        if (e)
            return e;
        if (!col->numeric && !in_list(c->cmp, plain_string_ops))
            return fail_ipv(ctx, "Invalid comparator for string attribute: %s", c->cmp);
        e = sb_compare(s, col->sql, find_op(c->cmp), c, col->numeric);
    } else {
        if (!in_list(c->cmp, plain_string_ops))
            return fail_ipv(ctx, "Invalid comparator for tag: %s", c->cmp);
        sb_add(s, "e.experiment_id IN (SELECT experiment_id FROM experiment_tags WHERE key = ? "
                  "AND ");
        sb_text(s, c->key);
        e = sb_compare(s, "value", find_op(c->cmp), c, false);
        sb_add(s, ")");
    }
    sb_add(s, ")");
    return e;
}

static enum keel_err sb_finish(struct sqlb *s, const char *empty, const char **sql,
                               struct search_bind **binds, size_t *n)
{
    if (s->failed) {
        kbuf_free(&s->text);
        return keel_fail(s->ctx, KEEL_E_INVALID_PARAMETER,
                         "The search is too large to run (more than %d values)",
                         SEARCH_MAX_BINDS);
    }
    *sql = karena_strdup(s->ctx->arena, s->text.len ? s->text.data : empty);
    kbuf_free(&s->text);
    *binds = s->binds;
    *n = s->n;
    return *sql ? KEEL_OK : nomem(s->ctx);
}

static enum keel_err where_sql(struct keel_ctx *ctx, const struct clause *cl, size_t n,
                               enum keel_err (*one)(struct sqlb *, const struct clause *),
                               struct search_sql *out)
{
    for (int correlated = 0; correlated < 2; correlated++) {
        struct sqlb s;
        sb_init(&s, ctx);
        s.correlated = correlated;
        for (size_t i = 0; i < n; i++) {
            sb_add(&s, i ? " AND " : "");
            enum keel_err e = one(&s, &cl[i]);
            if (e) {
                kbuf_free(&s.text);
                return e;
            }
        }
        struct search_bind *binds;
        size_t n_binds;
        enum keel_err e = correlated ? sb_finish(&s, "1", &out->where_lookup, &binds, &n_binds)
                                     : sb_finish(&s, "1", &out->where, &out->where_binds,
                                                 &out->n_where_binds);
        if (e)
            return e;
    }
    return KEEL_OK;
}

/* A run's value for a metric/param/tag order key, as a scalar subquery. */
static void order_subquery(struct sqlb *s, const char *what, const char *table, const char *key)
{
    sb_add(s, "(SELECT ");
    sb_add(s, what);
    sb_add(s, " FROM ");
    sb_add(s, table);
    sb_add(s, " WHERE run_key = r.run_key AND key = ?)");
    sb_text(s, key);
}

/*
 * _get_orderby_clauses(): MLflow sorts on (CASE missing/NaN, value) so that
 * missing values come last, and for a metric NaN comes between the real
 * values and the missing ones, in both directions; then start_time DESC
 * unless ordered on, then run_uuid. Each key here is one expression with
 * the same order, using SQLite's type order NULL < numbers < text < blob:
 *   metric:  COALESCE((CASE NaN THEN 'NaN' ELSE +-value), X'') ASC
 *   param/tag ASC: COALESCE(value, X'') ASC;  DESC: value DESC (NULL last)
 *   attribute ASC: col IS NULL, col ASC;       DESC: col DESC (NULL last)
 * so a key costs one lookup per run.
 */
static enum keel_err runs_order_terms(struct keel_ctx *ctx, const struct order_key *keys,
                                      size_t from, size_t n, const char **sql,
                                      struct search_bind **binds, size_t *n_binds)
{
    static const char *const tables[] = {[ENT_METRIC] = "latest_metrics", [ENT_PARAM] = "params",
                                         [ENT_TAG] = "tags"};
    struct sqlb s;
    sb_init(&s, ctx);
    bool start_time_seen = false;
    for (size_t i = 0; i < from; i++)
        start_time_seen |= keys[i].type == ENT_ATTR && !strcmp(keys[i].key, "start_time");
    for (size_t i = from; i < n; i++) {
        const struct order_key *k = &keys[i];
        sb_add(&s, i > from ? ", " : "");
        if (k->type == ENT_ATTR) {
            const struct column *col = find_column(run_columns, N_OF(run_columns), k->key);
            if (!col)
                return keel_fail(ctx, KEEL_E_INTERNAL, "unknown run attribute %s", k->key);
            start_time_seen |= !strcmp(k->key, "start_time");
            if (k->asc) {
                sb_add(&s, col->sql);
                sb_add(&s, " IS NULL, ");
            }
            sb_add(&s, col->sql);
            sb_add(&s, k->asc ? " ASC" : " DESC");
        } else if (k->type == ENT_METRIC) {
            sb_add(&s, "COALESCE(");
            order_subquery(&s, k->asc ? "CASE WHEN is_nan <> 0 THEN 'NaN' ELSE value END"
                                      : "CASE WHEN is_nan <> 0 THEN 'NaN' ELSE -value END",
                           tables[ENT_METRIC], k->key);
            sb_add(&s, ", X'') ASC");
        } else {
            sb_add(&s, k->asc ? "COALESCE(" : "");
            order_subquery(&s, "value", tables[k->type], k->key);
            sb_add(&s, k->asc ? ", X'') ASC" : " DESC");
        }
    }
    if (!start_time_seen)
        sb_add(&s, n > from ? ", r.start_time DESC" : "r.start_time DESC");
    sb_add(&s, ", r.run_uuid ASC");
    return sb_finish(&s, "", sql, binds, n_binds);
}

static enum keel_err runs_order_sql(struct keel_ctx *ctx, const struct order_key *keys, size_t n,
                                    struct search_sql *out)
{
    enum keel_err e = runs_order_terms(ctx, keys, 0, n, &out->order_by, &out->order_binds,
                                       &out->n_order_binds);
    if (e || n == 0 || keys[0].type != ENT_METRIC)
        return e;
    out->lead_metric = keys[0].key;
    out->lead_metric_asc = keys[0].asc;
    return runs_order_terms(ctx, keys, 1, n, &out->order_by_rest, &out->order_rest_binds,
                            &out->n_order_rest_binds);
}

static enum keel_err exps_order_sql(struct keel_ctx *ctx, const struct order_key *keys, size_t n,
                                    struct search_sql *out)
{
    struct sqlb s;
    sb_init(&s, ctx);
    bool id_seen = false;
    for (size_t i = 0; i < n; i++) {
        const struct column *col = find_column(exp_columns, N_OF(exp_columns), keys[i].key);
        if (!col)
            return keel_fail(ctx, KEEL_E_INTERNAL, "unknown experiment attribute %s", keys[i].key);
        id_seen |= !strcmp(keys[i].key, "experiment_id");
        sb_add(&s, i ? ", " : "");
        sb_add(&s, col->sql);
        sb_add(&s, keys[i].asc ? " ASC" : " DESC");
    }
    if (!id_seen) /* MLflow's tie-breaker, descending */
        sb_add(&s, n ? ", e.experiment_id DESC" : "e.experiment_id DESC");
    return sb_finish(&s, "", &out->order_by, &out->order_binds, &out->n_order_binds);
}

/* Python's repr() of the order_by list, for the duplicate-key message. */
static char *py_repr_list(struct keel_ctx *ctx, const char *const *items, size_t n)
{
    struct kbuf b;
    kbuf_init(&b, (size_t)SEARCH_MAX_ORDER_BY * (8 * SEARCH_MAX_ORDER_BY_LEN + 8));
    kbuf_addc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        char *r = py_repr_str(ctx, items[i], strlen(items[i]));
        kbuf_adds(&b, i ? ", " : "");
        kbuf_adds(&b, r ? r : "''");
    }
    kbuf_addc(&b, ']');
    char *out = b.data ? karena_strndup(ctx->arena, b.data, b.len) : NULL;
    kbuf_free(&b);
    return out ? out : "[]";
}

static enum keel_err check_order_by_count(struct keel_ctx *ctx, size_t n)
{
    if (n > SEARCH_MAX_ORDER_BY)
        return fail_ipv(ctx, "Too many order_by clauses: %zu, the maximum is %d", n,
                        SEARCH_MAX_ORDER_BY);
    return KEEL_OK;
}

static enum keel_err runs_order_keys(struct keel_ctx *ctx, const char *const *order_by, size_t n,
                                     struct order_key *keys)
{
    for (size_t i = 0; i < n; i++) {
        enum keel_err e = read_order_by(ctx, &runs_dialect, order_by[i], &keys[i]);
        if (e)
            return e;
        keys[i].key = run_key_alias(keys[i].key); /* for every type, as MLflow */
        if (keys[i].type == ENT_DATASET)
            return fail_ipv(ctx, "Invalid identifier type '%s'", ent_names[ENT_DATASET]);
        for (size_t j = 0; j < i; j++)
            if (keys[j].type == keys[i].type && !strcmp(keys[j].key, keys[i].key))
                return fail_500(ctx, "`order_by` contains duplicate fields: %s",
                                py_repr_list(ctx, order_by, n));
    }
    return KEEL_OK;
}

enum keel_err search_compile_runs(struct keel_ctx *ctx, const char *filter,
                                  const char *const *order_by, size_t n_order_by,
                                  struct search_sql *out)
{
    *out = (struct search_sql){0};
    struct clause *cl;
    size_t ncl;
    enum keel_err e = read_filter(ctx, &runs_dialect, filter, &cl, &ncl);
    if (e)
        return e;
    if ((e = check_order_by_count(ctx, n_order_by)))
        return e;
    struct order_key *keys = karena_calloc(ctx->arena, n_order_by + 1, sizeof *keys);
    if (!keys)
        return nomem(ctx);
    if ((e = runs_order_keys(ctx, order_by, n_order_by, keys)))
        return e;
    if ((e = where_sql(ctx, cl, ncl, run_clause_sql, out)))
        return e;
    return runs_order_sql(ctx, keys, n_order_by, out);
}

enum keel_err search_compile_experiments(struct keel_ctx *ctx, const char *filter,
                                         const char *const *order_by, size_t n_order_by,
                                         struct search_sql *out)
{
    static const char *const default_order[] = {"creation_time DESC", "experiment_id ASC"};
    *out = (struct search_sql){0};
    struct clause *cl;
    size_t ncl;
    enum keel_err e = read_filter(ctx, &exps_dialect, filter, &cl, &ncl);
    if (e)
        return e;
    if ((e = where_sql(ctx, cl, ncl, exp_clause_sql, out)))
        return e;
    if (n_order_by == 0) {
        order_by = default_order;
        n_order_by = N_OF(default_order);
    }
    if ((e = check_order_by_count(ctx, n_order_by)))
        return e;
    struct order_key *keys = karena_calloc(ctx->arena, n_order_by + 1, sizeof *keys);
    if (!keys)
        return nomem(ctx);
    for (size_t i = 0; i < n_order_by; i++) {
        if ((e = read_order_by(ctx, &exps_dialect, order_by[i], &keys[i])))
            return e;
        if (keys[i].type != ENT_ATTR)
            return fail_ipv(ctx, "Invalid order_by entity: %s", ent_names[keys[i].type]);
    }
    return exps_order_sql(ctx, keys, n_order_by, out);
}

/* ------------------------------------------------------------------------
 * 6b. Model registry
 * ---------------------------------------------------------------------- */

static const char *const registry_plain_ops[] = {"=", "!=", "LIKE", "ILIKE", NULL};

/* A tag clause: MLflow joins the rows whose tags match every tag clause
 * (one row per key, so clause by clause is the same set). */
static enum keel_err registry_tag_sql(struct sqlb *s, const struct clause *c, const char *head)
{
    if (!in_list(c->cmp, registry_plain_ops))
        return fail_ipv(s->ctx, "Invalid comparator for tag: %s", c->cmp);
    sb_add(s, head);
    sb_text(s, c->key);
    enum keel_err e = sb_compare(s, "value", find_op(c->cmp), c, false);
    sb_add(s, ")");
    return e;
}

/* _get_search_registered_model_filter_query(): one clause. */
static enum keel_err rm_clause_sql(struct sqlb *s, const struct clause *c)
{
    enum keel_err e;
    sb_add(s, "(");
    if (c->type == ENT_TAG) {
        e = registry_tag_sql(s, c,
                             "m.name IN (SELECT name FROM registered_model_tags"
                             " WHERE key = ? AND ");
    } else {
        if (!in_list(c->cmp, registry_plain_ops))
            return fail_ipv(s->ctx, "Invalid comparator for attribute: %s", c->cmp);
        e = sb_compare(s, "m.name", find_op(c->cmp), c, false);
    }
    sb_add(s, ")");
    return e;
}

static const struct column mv_columns[] = {
    {"name", "v.name", false},
    {"version_number", "v.version", true},
    {"run_id", "v.run_id", false},
    {"source_path", "v.source", false},
    {"creation_timestamp", "v.creation_time", true},
    {"last_updated_timestamp", "v.last_updated_time", true},
};

/* _get_search_model_versions_filter_clauses(): one clause. */
static enum keel_err mv_clause_sql(struct sqlb *s, const struct clause *c)
{
    static const char *const string_ops[] = {"!=", "=", "LIKE", "ILIKE", "IN", NULL};
    struct keel_ctx *ctx = s->ctx;
    enum keel_err e;
    sb_add(s, "(");
    if (c->type == ENT_TAG) {
        e = registry_tag_sql(s, c,
                             "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.name = v.name "
                             "AND t.version = v.version AND t.key = ? AND ");
    } else {
        const struct column *col = find_column(mv_columns, N_OF(mv_columns), c->key);
        if (!col)
            return fail_ipv(ctx, "Invalid attribute name: %s", c->key);
        if (col->numeric) {
            if (!in_list(c->cmp, cmp_numeric))
                return fail_ipv(ctx, "Invalid comparator for attribute %s: %s", c->key, c->cmp);
        } else if (!in_list(c->cmp, string_ops) ||
                   (!strcmp(c->cmp, "IN") && strcmp(c->key, "run_id"))) {
            return fail_ipv(ctx, "Invalid comparator for attribute: %s", c->cmp);
        }
        e = sb_compare(s, col->sql, find_op(c->cmp), c, col->numeric);
    }
    sb_add(s, ")");
    return e;
}

/* Model versions MLflow deletes are kept with this stage and never found. */
/* MLflow 3 keeps prompts (registered models and versions tagged
 * mlflow.prompt.is_prompt = 'true') out of registry searches unless the
 * filter asks for them: its first clause on that tag is `= 'true'` or
 * `!= 'false'` (any case). Otherwise every clause on the tag is dropped and
 * prompts are excluded by name, so models without the tag are kept. */
#define IS_PROMPT_TAG "mlflow.prompt.is_prompt"

static bool ascii_ieq(const char *a, const char *b)
{
    return a && strcasecmp(a, b) == 0;
}

static bool drop_prompt_clauses(struct clause *cl, size_t *ncl)
{
    for (size_t i = 0; i < *ncl; i++) {
        if (cl[i].type != ENT_TAG || strcmp(cl[i].key, IS_PROMPT_TAG) != 0)
            continue;
        if (cl[i].vk == VAL_STR && ((!strcmp(cl[i].cmp, "=") && ascii_ieq(cl[i].text, "true")) ||
                                    (!strcmp(cl[i].cmp, "!=") && ascii_ieq(cl[i].text, "false"))))
            return false;
        break;
    }
    size_t o = 0;
    for (size_t i = 0; i < *ncl; i++)
        if (!(cl[i].type == ENT_TAG && !strcmp(cl[i].key, IS_PROMPT_TAG)))
            cl[o++] = cl[i];
    *ncl = o;
    return true;
}

static enum keel_err exclude_prompts(struct keel_ctx *ctx, const char *name_col,
                                     const char *tag_table, struct search_sql *out)
{
    const char *cond = karena_sprintf(ctx->arena,
                                      "%s NOT IN (SELECT name FROM %s WHERE key = '" IS_PROMPT_TAG
                                      "' AND value = 'true')",
                                      name_col, tag_table);
    out->where = !cond                       ? NULL
                 : !strcmp(out->where, "1") ? cond
                                            : karena_sprintf(ctx->arena, "%s AND (%s)", cond,
                                                             out->where);
    out->where_lookup = NULL;
    return out->where ? KEEL_OK : nomem(ctx);
}

static enum keel_err mv_not_deleted(struct keel_ctx *ctx, struct search_sql *out)
{
    static const char *const alive = "v.current_stage <> 'Deleted_Internal'";
    out->where = !strcmp(out->where, "1")
                     ? alive
                     : karena_sprintf(ctx->arena, "%s AND %s", alive, out->where);
    out->where_lookup = NULL;
    return out->where ? KEEL_OK : nomem(ctx);
}

enum keel_err search_compile_registered_models(struct keel_ctx *ctx, const char *filter,
                                               const char *const *order_by, size_t n_order_by,
                                               unsigned flags, struct search_sql *out)
{
    static const char *const valid_keys[] = {"timestamp", "last_updated_timestamp", "name", NULL};
    static const char *const recommended[] = {"name", "timestamp", NULL};
    *out = (struct search_sql){0};
    struct clause *cl;
    size_t ncl;
    enum keel_err e = read_filter(ctx, &rm_dialect, filter, &cl, &ncl);
    if (e)
        return e;
    bool hide = (flags & SEARCH_HIDE_PROMPTS) && drop_prompt_clauses(cl, &ncl);
    if ((e = where_sql(ctx, cl, ncl, rm_clause_sql, out)))
        return e;
    if (hide && (e = exclude_prompts(ctx, "m.name", "registered_model_tags", out)))
        return e;
    out->where_lookup = NULL;
    if ((e = check_order_by_count(ctx, n_order_by)))
        return e;
    /* SearchUtils.parse_order_by_for_search_registered_models(): timestamp
     * and last_updated_timestamp both mean last_updated_time. */
    const char **fields = karena_calloc(ctx->arena, n_order_by + 1, sizeof *fields);
    if (!fields)
        return nomem(ctx);
    struct sqlb s;
    sb_init(&s, ctx);
    bool name_seen = false;
    for (size_t i = 0; i < n_order_by; i++) {
        const char *key = "";
        bool asc = true;
        if (!(e = read_order_entry(ctx, order_by[i], &key, &asc)) && !in_list(key, valid_keys))
            e = fail_ipv(ctx, "Invalid order by key '%s' specified. Valid keys are '%s'", key,
                         py_seq(ctx, recommended, "{}"));
        fields[i] = !strcmp(key, "name") ? "m.name" : "m.last_updated_time";
        for (size_t j = 0; !e && j < i; j++)
            if (!strcmp(fields[j], fields[i]))
                e = fail_500(ctx, "`order_by` contains duplicate fields: %s",
                             py_repr_list(ctx, order_by, n_order_by));
        if (e) {
            kbuf_free(&s.text);
            return e;
        }
        name_seen |= !strcmp(key, "name");
        sb_add(&s, i ? ", " : "");
        sb_add(&s, fields[i]);
        sb_add(&s, asc ? " ASC" : " DESC");
    }
    if (!name_seen) /* MLflow's tie-breaker */
        sb_add(&s, n_order_by ? ", m.name ASC" : "m.name ASC");
    return sb_finish(&s, "", &out->order_by, &out->order_binds, &out->n_order_binds);
}

enum keel_err search_compile_model_versions(struct keel_ctx *ctx, const char *filter,
                                            const char *const *order_by, size_t n_order_by,
                                            unsigned flags, struct search_sql *out)
{
    static const char *const default_order[] = {"last_updated_timestamp DESC", "name ASC",
                                                "version_number DESC"};
    *out = (struct search_sql){0};
    struct clause *cl;
    size_t ncl;
    enum keel_err e = read_filter(ctx, &mv_dialect, filter, &cl, &ncl);
    if (e)
        return e;
    bool hide = (flags & SEARCH_HIDE_PROMPTS) && drop_prompt_clauses(cl, &ncl);
    if ((e = where_sql(ctx, cl, ncl, mv_clause_sql, out)) || (e = mv_not_deleted(ctx, out)))
        return e;
    if (hide && (e = exclude_prompts(ctx, "v.name", "model_version_tags", out)))
        return e;
    if (n_order_by == 0) {
        order_by = default_order;
        n_order_by = N_OF(default_order);
    }
    if ((e = check_order_by_count(ctx, n_order_by)))
        return e;
    const char **fields = karena_calloc(ctx->arena, n_order_by + 1, sizeof *fields);
    if (!fields)
        return nomem(ctx);
    struct sqlb s;
    sb_init(&s, ctx);
    bool name_seen = false, version_seen = false;
    for (size_t i = 0; i < n_order_by; i++) {
        /* parse_order_by_for_search_model_versions(): the entity type is
         * read, then ignored (`tags.name` orders by name). */
        struct order_key k;
        const struct column *col = NULL;
        if (!(e = read_order_by(ctx, &mv_order_dialect, order_by[i], &k)) &&
            !(in_list(k.key, mv_order_attrs) &&
              (col = find_column(mv_columns, N_OF(mv_columns), k.key))))
            e = fail_ipv(ctx, "Invalid order by key '%s' specified. Valid keys are %s", k.key,
                         py_seq(ctx, mv_order_attrs, "{}"));
        if (!e)
            fields[i] = col->sql;
        for (size_t j = 0; !e && j < i; j++)
            if (!strcmp(fields[j], fields[i]))
                e = fail_500(ctx, "`order_by` contains duplicate fields: %s",
                             py_repr_list(ctx, order_by, n_order_by));
        if (e) {
            kbuf_free(&s.text);
            return e;
        }
        name_seen |= !strcmp(col->sql, "v.name");
        version_seen |= !strcmp(col->sql, "v.version");
        sb_add(&s, i ? ", " : "");
        sb_add(&s, col->sql);
        sb_add(&s, k.asc ? " ASC" : " DESC");
    }
    if (!name_seen) /* MLflow's tie-breakers */
        sb_add(&s, ", v.name ASC");
    if (!version_seen)
        sb_add(&s, ", v.version DESC");
    return sb_finish(&s, "", &out->order_by, &out->order_binds, &out->n_order_binds);
}

/* ------------------------------------------------------------------------
 * 6c. Logged models (MLflow 3)
 *
 * MLflow 3 reads a logged-model filter with its own small parser over the
 * same sqlparse tree (mlflow/utils/search_logged_model_utils.py), not with
 * SearchUtils: the statement's non-blank tokens, after IN / NOT IN are
 * joined, must be comparisons separated by AND; each comparison is
 * `identifier op value`, where the identifier is `<entity>.<key>` (entity
 * attributes, metrics, params or tags) or a bare attribute name. The store
 * then looks every attribute up on its SqlLoggedModel class (an unknown
 * one is Python's AttributeError, a 500) and joins metric, param and tag
 * rows. Errors come in that order: the whole filter is read (400s, clause
 * by clause), then attributes are looked up (500), then order_by is read.
 * ---------------------------------------------------------------------- */

enum lm_ent { LM_ATTR, LM_METRIC, LM_PARAM, LM_TAG };

static const char *const lm_ent_names[] = {"attributes", "metrics", "params", "tags"};

/* SqlLoggedModel's columns, and how keel stores them (logged_models AS lm).
 * status_message is a column MLflow keeps and keel does not: always NULL. */
static const struct column lm_columns[] = {
    {"model_id", "lm.model_id", false},
    {"experiment_id", "lm.experiment_id", false},
    {"name", "lm.name", false},
    {"artifact_location", "lm.artifact_location", false},
    {"creation_timestamp_ms", "lm.creation_timestamp_ms", true},
    {"last_updated_timestamp_ms", "lm.last_updated_timestamp_ms", true},
    {"status", "lm.status", false},
    {"lifecycle_stage", "lm.lifecycle_stage", false},
    {"model_type", "lm.model_type", false},
    {"source_run_id", "lm.source_run_id", false},
    {"status_message", "NULL", false},
};

/* SqlLoggedModel.ALIASES */
static const char *lm_alias(const char *key)
{
    if (!strcmp(key, "creation_time") || !strcmp(key, "creation_timestamp"))
        return "creation_timestamp_ms";
    if (!strcmp(key, "last_updated_timestamp"))
        return "last_updated_timestamp_ms";
    return key;
}

/* SqlLoggedModel.is_numeric() */
static bool lm_is_numeric_attr(const char *key)
{
    key = lm_alias(key);
    return !strcmp(key, "creation_timestamp_ms") || !strcmp(key, "last_updated_timestamp_ms");
}

/* str.strip("`") */
static const char *strip_all_backticks(struct keel_ctx *ctx, const char *s)
{
    size_t i = 0, j = strlen(s);
    while (i < j && s[i] == '`')
        i++;
    while (j > i && s[j - 1] == '`')
        j--;
    return karena_strndup(ctx->arena, s + i, j - i);
}

/* str.strip("'") */
static const char *strip_all_squotes(struct keel_ctx *ctx, const char *s)
{
    size_t i = 0, j = strlen(s);
    while (i < j && s[i] == '\'')
        i++;
    while (j > i && s[j - 1] == '\'')
        j--;
    return karena_strndup(ctx->arena, s + i, j - i);
}

/* Python's float() of a str: [sign] digits with single '_' between digits,
 * optional fraction and exponent, or inf/infinity/nan; surrounding
 * whitespace allowed. */
static bool py_float(struct keel_ctx *ctx, const char *text, double *out)
{
    const char *s = py_strip(ctx, text);
    if (!s)
        return false;
    size_t n = strlen(s), i = 0, o = 0;
    char *buf = karena_alloc(ctx->arena, n + 1);
    if (!buf || n == 0)
        return false;
    if (s[i] == '+' || s[i] == '-')
        buf[o++] = s[i++];
    const char *rest = s + i;
    if (!strcasecmp(rest, "inf") || !strcasecmp(rest, "infinity") || !strcasecmp(rest, "nan")) {
        double v = !strcasecmp(rest, "nan") ? (double)NAN : (double)INFINITY;
        *out = (o && buf[0] == '-') ? -v : v;
        return true;
    }
    /* digitpart ["." [digitpart]] | "." digitpart, then [e [sign] digitpart] */
    size_t int_digits = 0, frac_digits = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        buf[o++] = s[i];
        int_digits++;
        if (s[i + 1] == '_' && s[i + 2] >= '0' && s[i + 2] <= '9')
            i++;
    }
    if (s[i] == '.') {
        buf[o++] = s[i++];
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
            buf[o++] = s[i];
            frac_digits++;
            if (s[i + 1] == '_' && s[i + 2] >= '0' && s[i + 2] <= '9')
                i++;
        }
    }
    if (int_digits + frac_digits == 0)
        return false;
    if (s[i] == 'e' || s[i] == 'E') {
        buf[o++] = s[i++];
        if (s[i] == '+' || s[i] == '-')
            buf[o++] = s[i++];
        size_t exp_digits = 0;
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
            buf[o++] = s[i];
            exp_digits++;
            if (s[i + 1] == '_' && s[i + 2] >= '0' && s[i + 2] <= '9')
                i++;
        }
        if (!exp_digits)
            return false;
    }
    if (s[i] != '\0')
        return false;
    buf[o] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

struct lm_clause {
    enum lm_ent type;
    const char *key;
    const char *op;
    bool numeric;
    struct clause val; /* vk, text (VAL_NUM as %.17g), items */
};

/* Entity.from_str() */
static enum keel_err lm_entity(struct keel_ctx *ctx, const char *s, struct lm_clause *c)
{
    /* ^([a-z]+)\.(.+)$ : '.' stops at a newline; '$' also matches before a
     * final newline */
    size_t i = 0;
    while (s[i] >= 'a' && s[i] <= 'z')
        i++;
    if (i > 0 && s[i] == '.') {
        const char *rest = s + i + 1;
        size_t rl = strlen(rest);
        if (rl && rest[rl - 1] == '\n')
            rl--;
        if (rl > 0 && !memchr(rest, '\n', rl)) {
            const char *type = karena_strndup(ctx->arena, s, i);
            if (!type)
                return nomem(ctx);
            size_t k = 0;
            while (k < N_OF(lm_ent_names) && strcmp(type, lm_ent_names[k]))
                k++;
            if (k == N_OF(lm_ent_names))
                return fail_ipv(ctx,
                                "Invalid entity type: '%s'. Expected one of ['attributes', "
                                "'metrics', 'params', 'tags'].",
                                type);
            c->type = (enum lm_ent)k;
            const char *key = karena_strndup(ctx->arena, rest, rl);
            c->key = key ? strip_all_backticks(ctx, key) : NULL;
            return c->key ? KEEL_OK : nomem(ctx);
        }
    }
    c->type = LM_ATTR;
    c->key = strip_all_backticks(ctx, lm_alias(s));
    return c->key ? KEEL_OK : nomem(ctx);
}

static const char *const lm_numeric_ops[] = {"<", "<=", ">", ">=", "=", "!=", NULL};
static const char *const lm_string_ops[] = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", NULL};

/* One comparison: entity, operator check, value. */
static enum keel_err lm_comparison(struct keel_ctx *ctx, const char *ident, const char *op,
                                   const char *value, struct lm_clause *c)
{
    enum keel_err e = lm_entity(ctx, ident, c);
    if (e)
        return e;
    c->numeric = c->type == LM_METRIC || (c->type == LM_ATTR && lm_is_numeric_attr(c->key));
    if (!in_list(op, c->numeric ? lm_numeric_ops : lm_string_ops)) {
        const char *r = py_repr_str(ctx, op, strlen(op));
        return fail_ipv(ctx,
                        "Invalid comparison operator for %s.%s: %s. Expected one of ('=', '!=', "
                        "'LIKE', 'ILIKE', 'IN', 'NOT IN').",
                        lm_ent_names[c->type], c->key, r ? r : "''");
    }
    c->op = op;
    if (c->numeric) {
        double d;
        if (!py_float(ctx, value, &d)) {
            const char *r = py_repr_str(ctx, value, strlen(value));
            return fail_500(ctx, "could not convert string to float: %s", r ? r : "''");
        }
        c->val.vk = VAL_NUM;
        c->val.is_int = false;
        c->val.text = isnan(d) ? "nan" : karena_sprintf(ctx->arena, "%.17g", d);
        return c->val.text ? KEEL_OK : nomem(ctx);
    }
    size_t vl = strlen(value);
    if (vl >= 1 && value[0] == '(' && value[vl - 1] == ')') {
        /* ast.literal_eval(): a str becomes a 1-tuple */
        c->val.vk = VAL_LIST;
        size_t i = py_skip_ws(value, 1);
        if (i == vl - 1) {
            c->val.n_items = 0; /* () */
            return KEEL_OK;
        }
        if (!py_literal_strings(ctx, value, &c->val.items, &c->val.n_items))
            return fail_500(ctx, "malformed node or string: %s", value);
        if (c->val.n_items > SEARCH_MAX_LIST_VALUES)
            return fail_ipv(ctx,
                            "Too many values in a list in the filter string: %zu, the maximum is %d",
                            c->val.n_items, SEARCH_MAX_LIST_VALUES);
        return KEEL_OK;
    }
    c->val.vk = VAL_STR;
    c->val.text = strip_all_squotes(ctx, value);
    return c->val.text ? KEEL_OK : nomem(ctx);
}

/* parse_filter_string() */
static enum keel_err lm_read_filter(struct keel_ctx *ctx, const char *filter,
                                    struct lm_clause **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!filter || !*filter)
        return KEEL_OK;
    struct sp p = {.ctx = ctx};
    enum keel_err le = load_filter(ctx, &p, &filter);
    if (le)
        return le;
    const char *frepr = py_repr_str(ctx, filter, strlen(filter));
    if (!frepr)
        return nomem(ctx);
    struct tok **stmts;
    size_t ns = sp_parse(&p, &stmts);
    if (p.oom)
        return nomem(ctx);
    if (p.parse_error)
        return fail_ipv(ctx, "Invalid filter string: %s. SQLParseError('Maximum grouping depth "
                             "exceeded')",
                        frepr);
    if (ns != 1)
        return fail_ipv(ctx, "Invalid filter string: %s. Expected a single SQL expression.",
                        frepr);
    struct tok *stmt = stmts[0];
    struct tok **nb = karena_alloc(ctx->arena, (stmt->n + 1) * sizeof *nb);
    struct item *items = karena_alloc(ctx->arena, (stmt->n + 1) * sizeof *items);
    struct lm_clause *cl = karena_calloc(ctx->arena, stmt->n + 1, sizeof *cl);
    if (!nb || !items || !cl)
        return nomem(ctx);
    size_t nn = 0, k = 0;
    for (uint32_t i = 0; i < stmt->n; i++)
        if (!is_ws_tok(stmt->kid[i]))
            nb[nn++] = stmt->kid[i];
    size_t ni = join_in(&p, nb, nn, items);
    for (size_t i = 0; i < ni; i++) {
        struct tok *t = items[i].t;
        const char *ident, *op, *value;
        if (!t) {
            ident = tok_text(&p, items[i].left);
            op = items[i].cmp;
            value = tok_text(&p, items[i].right);
        } else if (t->cls == G_COMPARISON) {
            struct tok *v3[3];
            size_t cnt = 0;
            for (uint32_t j = 0; j < t->n; j++)
                if (!is_ws_tok(t->kid[j])) {
                    if (cnt < 3)
                        v3[cnt] = t->kid[j];
                    cnt++;
                }
            if (cnt != 3)
                return fail_ipv(ctx,
                                "Invalid comparison: %s. Expected a comparison with 3 tokens.",
                                tok_text(&p, t));
            ident = tok_text(&p, v3[0]);
            op = tok_text(&p, v3[1]);
            value = tok_text(&p, v3[2]);
        } else {
            const char *v = py_strip(ctx, tok_text(&p, t));
            if (!v || p.oom)
                return nomem(ctx);
            if (!strcasecmp(v, "AND"))
                continue;
            return fail_ipv(ctx,
                            "Invalid filter string: %s. Expected a list of comparisons "
                            "separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = "
                            "0.01').",
                            frepr);
        }
        if (!ident || !op || !value || p.oom)
            return nomem(ctx);
        if (k == SEARCH_MAX_CLAUSES)
            return fail_ipv(ctx, "Filter string has too many clauses: more than %d",
                            SEARCH_MAX_CLAUSES);
        enum keel_err e = lm_comparison(ctx, ident, op, value, &cl[k++]);
        if (e)
            return e;
    }
    *out = cl;
    *n_out = k;
    return KEEL_OK;
}

/* The `datasets` restriction on metric rows (alias mm): any of the
 * datasets. MLflow's handler always passes dataset_digest, None when not
 * given, which compares `dataset_digest IS NULL`: never true in keel, where
 * the column is '' for no dataset (nor in MLflow for a metric with a
 * dataset name). */
static void lm_datasets_sql(struct sqlb *s, const struct search_lm_dataset *ds, size_t n)
{
    sb_add(s, "(");
    for (size_t i = 0; i < n; i++) {
        sb_add(s, i ? " OR " : "");
        sb_add(s, "(mm.dataset_name = ?");
        sb_text(s, ds[i].dataset_name);
        if (ds[i].dataset_digest && *ds[i].dataset_digest) {
            sb_add(s, " AND mm.dataset_digest = ?)");
            sb_text(s, ds[i].dataset_digest);
        } else {
            sb_add(s, " AND mm.dataset_digest IS NULL)");
        }
    }
    sb_add(s, ")");
}

static enum keel_err lm_clause_sql(struct sqlb *s, const struct lm_clause *c,
                                   const struct search_lm_dataset *ds, size_t n_ds)
{
    const struct sql_op *op = find_op(c->op);
    if (!op)
        return keel_fail(s->ctx, KEEL_E_INTERNAL, "unknown comparator %s", c->op);
    enum keel_err e;
    switch (c->type) {
    case LM_ATTR: {
        const struct column *col = find_column(lm_columns, N_OF(lm_columns), c->key);
        /* checked before any SQL is built */
        if (!col)
            return keel_fail(s->ctx, KEEL_E_INTERNAL, "unknown logged model attribute %s",
                             c->key);
        sb_add(s, "(");
        e = sb_compare(s, col->sql, op, &c->val, c->numeric);
        sb_add(s, ")");
        return e;
    }
    case LM_METRIC:
        sb_add(s, "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = "
                  "lm.model_id AND mm.key = ? AND ");
        sb_text(s, c->key);
        e = sb_compare(s, "mm.value", op, &c->val, true);
        if (n_ds) {
            sb_add(s, " AND ");
            lm_datasets_sql(s, ds, n_ds);
        }
        sb_add(s, ")");
        return e;
    case LM_PARAM:
    case LM_TAG:
        sb_add(s, c->type == LM_PARAM
                      ? "EXISTS (SELECT 1 FROM logged_model_params kv WHERE kv.model_id = "
                        "lm.model_id AND kv.key = ? AND "
                      : "EXISTS (SELECT 1 FROM logged_model_tags kv WHERE kv.model_id = "
                        "lm.model_id AND kv.key = ? AND ");
        sb_text(s, c->key);
        e = sb_compare(s, "kv.value", op, &c->val, false);
        sb_add(s, ")");
        return e;
    }
    return keel_fail(s->ctx, KEEL_E_INTERNAL, "unknown search entity");
}

/* A model's latest value of a metric for an order_by entry (optionally on
 * one dataset): the rows at the latest (timestamp, step); of several, the
 * first MLflow's de-duplicated outer join keeps, the smallest when
 * ascending and the largest when descending. */
static void lm_metric_order_sql(struct sqlb *s, const struct search_lm_order *ob, const char *key)
{
    bool has_name = ob->dataset_name && *ob->dataset_name;
    bool has_digest = ob->dataset_digest && *ob->dataset_digest;
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            sb_add(s, " AND (m.timestamp, m.step) = (SELECT m2.timestamp, m2.step FROM "
                      "logged_model_metrics m2 WHERE m2.model_id = lm.model_id AND m2.key = ?");
        else
            sb_add(s, ob->ascending
                          ? "(SELECT MIN(m.value) FROM logged_model_metrics m WHERE "
                            "m.model_id = lm.model_id AND m.key = ?"
                          : "(SELECT MAX(m.value) FROM logged_model_metrics m WHERE "
                            "m.model_id = lm.model_id AND m.key = ?");
        sb_text(s, key);
        if (has_name) {
            sb_add(s, pass ? " AND m2.dataset_name = ?" : " AND m.dataset_name = ?");
            sb_text(s, ob->dataset_name);
        }
        if (has_digest) {
            sb_add(s, pass ? " AND m2.dataset_digest = ?" : " AND m.dataset_digest = ?");
            sb_text(s, ob->dataset_digest);
        }
    }
    sb_add(s, " ORDER BY m2.timestamp DESC, m2.step DESC LIMIT 1))");
}

/* _apply_order_by_search_logged_models(): each key with models lacking a
 * value last, then creation_timestamp_ms DESC unless ordered on it. */
static enum keel_err lm_order_sql(struct keel_ctx *ctx, const struct search_lm_order *order_by,
                                  size_t n, struct search_sql *out)
{
    if (n > SEARCH_MAX_ORDER_BY)
        return fail_ipv(ctx, "Too many order_by clauses: %zu, the maximum is %d", n,
                        SEARCH_MAX_ORDER_BY);
    struct sqlb s;
    sb_init(&s, ctx);
    bool created_seen = false;
    size_t terms = 0;
    for (size_t i = 0; i < n; i++) {
        const struct search_lm_order *ob = &order_by[i];
        const char *field = ob->field_name ? ob->field_name : "";
        const char *dot = strchr(field, '.');
        if (!dot) {
            const char *name = lm_alias(field);
            const struct column *col = find_column(lm_columns, N_OF(lm_columns), name);
            if (!col) {
                kbuf_free(&s.text);
                /* MLflow: INVALID_PARAMETER_VALUE with error_class ATTRIBUTE_NOT_FOUND */
                return keel_fail(ctx, KEEL_E_NO_ATTRIBUTE, "Invalid order by field name: %s",
                                 field);
            }
            created_seen |= !strcmp(name, "creation_timestamp_ms");
            if (!strcmp(col->sql, "NULL"))
                continue; /* always NULL: orders nothing */
            sb_add(&s, terms++ ? ", " : "");
            sb_add(&s, col->sql);
            sb_add(&s, ob->ascending ? " ASC" : " DESC");
            continue;
        }
        if ((size_t)(dot - field) != strlen("metrics") || strncmp(field, "metrics", 7)) {
            kbuf_free(&s.text);
            return fail_ipv(ctx, "Invalid order by field name: %s. Only metrics are supported.",
                            field);
        }
        /* NULL (no value) sorts first in SQLite: move it last when ascending
         * (X'' sorts after every number); descending already puts it last */
        sb_add(&s, terms++ ? ", " : "");
        sb_add(&s, ob->ascending ? "COALESCE(" : "");
        lm_metric_order_sql(&s, ob, dot + 1);
        sb_add(&s, ob->ascending ? ", X'') ASC" : " DESC");
    }
    if (!created_seen)
        sb_add(&s, terms++ ? ", lm.creation_timestamp_ms DESC" : "lm.creation_timestamp_ms DESC");
    /* not MLflow's (ties are left to the database there): a stable order for
     * pages */
    sb_add(&s, terms ? ", lm.model_id ASC" : "lm.model_id ASC");
    return sb_finish(&s, "", &out->order_by, &out->order_binds, &out->n_order_binds);
}

enum keel_err search_compile_logged_models_datasets(struct keel_ctx *ctx, const char *filter,
                                                    const struct search_lm_dataset *datasets,
                                                    size_t n_datasets,
                                                    const struct search_lm_order *order_by,
                                                    size_t n_order_by, struct search_sql *out)
{
    *out = (struct search_sql){0};
    for (size_t i = 0; i < n_datasets; i++)
        if (!datasets[i].dataset_name || !*datasets[i].dataset_name)
            return fail_ipv(ctx, "`dataset_name` in the `datasets` clause must be specified.");
    if (n_datasets > SEARCH_MAX_LIST_VALUES)
        return fail_ipv(ctx, "Too many datasets: %zu, the maximum is %d", n_datasets,
                        SEARCH_MAX_LIST_VALUES);
    struct lm_clause *cl;
    size_t ncl;
    enum keel_err e = lm_read_filter(ctx, filter, &cl, &ncl);
    if (e)
        return e;
    /* the store's getattr(SqlLoggedModel, key), clause by clause */
    bool has_metric = false;
    for (size_t i = 0; i < ncl; i++) {
        has_metric |= cl[i].type == LM_METRIC;
        if (cl[i].type == LM_ATTR && !find_column(lm_columns, N_OF(lm_columns), cl[i].key))
            return fail_500(ctx, "type object 'SqlLoggedModel' has no attribute '%s'",
                            cl[i].key);
    }
    struct sqlb s;
    sb_init(&s, ctx);
    size_t terms = 0;
    for (size_t i = 0; i < ncl; i++) {
        sb_add(&s, terms++ ? " AND " : "");
        if ((e = lm_clause_sql(&s, &cl[i], datasets, n_datasets))) {
            kbuf_free(&s.text);
            return e;
        }
    }
    if (n_datasets && !has_metric) {
        sb_add(&s, terms++ ? " AND " : "");
        sb_add(&s, "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = "
                   "lm.model_id AND ");
        lm_datasets_sql(&s, datasets, n_datasets);
        sb_add(&s, ")");
    }
    if ((e = sb_finish(&s, "1", &out->where, &out->where_binds, &out->n_where_binds)))
        return e;
    return lm_order_sql(ctx, order_by, n_order_by, out);
}

enum keel_err search_compile_logged_models(struct keel_ctx *ctx, const char *filter,
                                           const struct search_lm_order *order_by,
                                           size_t n_order_by, struct search_sql *out)
{
    return search_compile_logged_models_datasets(ctx, filter, NULL, 0, order_by, n_order_by,
                                                 out);
}

/* ------------------------------------------------------------------------
 * 7. Page tokens
 * ---------------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* binascii.a2b_base64 in its default (non-strict) mode: characters outside
 * the alphabet are skipped, decoding stops at complete padding. */
static bool b64_decode(const char *s, unsigned char *out, size_t *n)
{
    size_t o = 0;
    int quad = 0, pads = 0;
    unsigned left = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return false; /* Python refuses non-ASCII before decoding */
        if (c == '=') {
            if (quad >= 2 && quad + ++pads >= 4)
                goto done;
            continue;
        }
        int v = b64_value(c);
        if (v < 0)
            continue;
        pads = 0;
        switch (quad) {
        case 0:
            left = (unsigned)v;
            quad = 1;
            break;
        case 1:
            out[o++] = (unsigned char)((left << 2) | ((unsigned)v >> 4));
            left = (unsigned)v & 0x0F;
            quad = 2;
            break;
        case 2:
            out[o++] = (unsigned char)((left << 4) | ((unsigned)v >> 2));
            left = (unsigned)v & 0x03;
            quad = 3;
            break;
        default:
            out[o++] = (unsigned char)((left << 6) | (unsigned)v);
            quad = 0;
            break;
        }
    }
    if (quad != 0)
        return false;
done:
    *n = o;
    return true;
}

/* Python's int() of a str: whitespace, a sign, digits with single '_'. */
static bool py_int_str(const char *s, int64_t *v)
{
    size_t i = 0, n = strlen(s);
    while (i < n && strchr(" \t\n\r\v\f", s[i]))
        i++;
    while (n > i && strchr(" \t\n\r\v\f", s[n - 1]))
        n--;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n)
        return false;
    int64_t acc = 0;
    bool last_digit = false;
    for (; i < n; i++) {
        if (s[i] == '_' && last_digit && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
            last_digit = false;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (acc < SEARCH_MAX_PAGE_OFFSET)
            acc = acc * 10 + (s[i] - '0');
        last_digit = true;
    }
    *v = neg ? -acc : acc;
    return true;
}

/* Python's truth value of what json.loads() gave. */
static bool json_falsy(const struct jval *v)
{
    switch (v->type) {
    case J_OBJECT:
    case J_ARRAY:
    case J_STRING: return v->n == 0;
    case J_INT: return v->u.i == 0;
    case J_REAL: return v->u.d == 0.0;
    case J_TRUE: return false;
    default: return true;
    }
}

/* repr() of the Python value json.loads() would have produced. */
static char *json_repr(struct keel_ctx *ctx, const struct jval *v)
{
    struct kbuf b;
    kbuf_init(&b, 1u << 20);
    json_pyrepr(&b, v);
    char *out = b.data ? karena_strndup(ctx->arena, b.data, b.len) : NULL;
    kbuf_free(&b);
    return out ? out : "";
}

/* int(offset) in MLflow; false where Python raises. */
static bool offset_value(struct keel_ctx *ctx, const struct jval *v, int64_t *off,
                         const char **shown)
{
    switch (v->type) {
    case J_TRUE:
        *off = 1;
        return true;
    case J_INT:
        *off = v->u.i;
        return true;
    case J_REAL: {
        double d = v->u.d;
        /* beyond int64 MLflow crashes binding it; the clamp below applies */
        *off = d < -9.2e18 ? INT64_MIN : d > 9.2e18 ? INT64_MAX : (int64_t)d;
        return true;
    }
    case J_STRING:
        *shown = v->u.s;
        return py_int_str(v->u.s, off);
    default:
        *shown = json_repr(ctx, v);
        return false;
    }
}

enum keel_err search_page_token_decode(struct keel_ctx *ctx, const char *token, int64_t *offset)
{
    *offset = 0;
    if (!token || !*token)
        return KEEL_OK;
    size_t len = strlen(token);
    unsigned char *raw = karena_alloc(ctx->arena, len + 1);
    size_t n = 0;
    if (!raw)
        return nomem(ctx);
    if (!b64_decode(token, raw, &n))
        return fail_ipv(ctx, "Invalid page token, could not base64-decode");
    const unsigned char *text = raw;
    size_t tlen = n;
    if (tlen >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF) {
        text += 3; /* json.loads() decodes bytes as utf-8-sig */
        tlen -= 3;
    }
    const struct jval *doc = jp_parse(ctx->arena, (const char *)text, tlen, NULL);
    if (!doc)
        return fail_ipv(ctx, "Invalid page token, decoded value=%s",
                        py_repr_bytes(ctx, raw, n));
    enum keel_err e = KEEL_OK;
    const struct jval *off = jv_get(doc, "offset");
    const char *shown = NULL;
    int64_t v = 0;
    if (!jv_is_object(doc) || !off || json_falsy(off))
        e = fail_ipv(ctx, "Invalid page token, parsed value=%s", json_repr(ctx, doc));
    else if (!offset_value(ctx, off, &v, &shown))
        e = fail_ipv(ctx, "Invalid page token, not stringable %s", shown ? shown : "");
    if (e)
        return e;
    *offset = v < 0 ? 0 : v > SEARCH_MAX_PAGE_OFFSET ? SEARCH_MAX_PAGE_OFFSET : v;
    return KEEL_OK;
}

const char *search_page_token_encode(struct keel_ctx *ctx, int64_t offset)
{
    char json[64];
    int n = snprintf(json, sizeof json, "{\"offset\": %lld}", (long long)offset);
    return search_b64_encode(ctx, json, (size_t)n);
}

const char *search_b64_encode(struct keel_ctx *ctx, const char *json, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = karena_alloc(ctx->arena, 4 * (n / 3 + 1) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)json[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)json[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)json[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

char *search_b64_decode(struct keel_ctx *ctx, const char *text, size_t *n)
{
    unsigned char *raw = karena_alloc(ctx->arena, strlen(text) + 1);
    if (!raw || !b64_decode(text, raw, n))
        return NULL;
    raw[*n] = '\0';
    return (char *)raw;
}
