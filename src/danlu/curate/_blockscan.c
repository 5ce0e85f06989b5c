/* danlu.curate._blockscan: blocks() and features() of danlu.curate.blocks in one C pass.
 *
 * The Python functions in blocks.py are the reference: this module computes the same blocks
 * (texts, first-in-block flags) and the same feature matrix from resiliparse's minimal HTML,
 * about 20x faster. Everything that defines the features comes from Python through configure():
 * the character-class table, the cue regexes (compiled by blocks.py into a small backtracking
 * program for the subset of regex syntax they use) and the layout of the feature columns.
 * scan() returns None when it meets input it does not handle exactly like Python (an entity
 * other than the four resiliparse writes, a non-ASCII letter in a tag name); the caller then
 * takes the Python path. tests/curate/test_curate_blockscan.py checks both agree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- configuration (set once by configure()) ---- */
static uint8_t *cls_table = NULL; /* 0x10001 entries: bit flags per BMP character, last = beyond */
static int32_t *prog = NULL;      /* cue matcher program */
static Py_ssize_t prog_len = 0;
/* Where an alternative may start: anywhere, at a word's start (it begins with \b before a word
 * character), at the block's start (^). Per where, N_BUCKETS first-character buckets (ASCII
 * 0..127, 128 = non-ASCII, 129 = can match empty text), each (start, count) in entries. */
enum { W_ANYWHERE, W_WORD, W_BLOCK, N_WHERE };
#define N_BUCKETS 130
static int32_t *disp = NULL;
static int32_t *entries = NULL;   /* (cue, pc) pairs */
static Py_ssize_t n_entries = 0;
static int n_cues = 0, cue_related = 0, cue_social = 0;
static Py_ssize_t cue_chars = 140, head_len = 160;
static Py_UCS4 *sentence_end = NULL;
static Py_ssize_t n_sentence_end = 0;
static double cjk_chars_per_word = 1.5;

enum { F_SPACE = 1, F_PUNCT = 2, F_DIGIT = 4, F_UPPER = 8, F_LETTER = 16, F_CJK = 32 };
enum { OP_LIT = 1, OP_IN, OP_AT, OP_BRANCH, OP_REPEAT, OP_SUCC };
enum { AT_BEGIN = 0, AT_BOUNDARY = 1, AT_NON_BOUNDARY = 2, AT_END = 3 };
enum { IN_LIT = 0, IN_RANGE = 1, IN_DIGIT = 2, IN_NOT_DIGIT = 3, IN_WORD = 4, IN_NOT_WORD = 5,
       IN_SPACE = 6, IN_NOT_SPACE = 7 };

/* Feature columns: those before the cues, the cues, those after (blocks.FEATURES' order). */
static const char *BEFORE[] = {"bias", "log_words", "log_chars", "link_density", "ends_sentence",
                               "punct_per_word", "digit_ratio", "upper_start_ratio"};
static const char *AFTER[] = {
    "no_letters", "position", "position2", "first_in_block", "tag_p", "tag_h1", "tag_h2",
    "tag_h36", "tag_li", "tag_pre", "tag_none", "block_share", "prev_log_words", "next_log_words",
    "prev_link_density", "next_link_density", "window_log_words", "window_link_density",
    "after_first_long", "before_last_long", "from_longest", "long_words_before",
    "long_words_after", "to_nearest_long", "after_cue"};
#define N_BEFORE 8
#define N_AFTER 25

/* Tags of resiliparse's minimal HTML, in the order of blocks._TOKEN's alternation. */
enum { T_P, T_H1, T_H2, T_H3, T_H4, T_H5, T_H6, T_PRE, T_LI, T_UL, T_OL, T_A, T_BR, T_NONE };
/* blocks._TAGS: p 0, h1 1, h2 2, h3-h6 3, li 4, pre 5, loose text 6 */
static const int TAG_COLUMN[] = {0, 1, 2, 3, 3, 3, 3, 5, 4, 0, 0, 0, 0, 6};

/* ---- growable buffers ---- */
typedef struct { Py_UCS4 *d; Py_ssize_t n, cap; } UBuf;

static int ubuf_reserve(UBuf *b, Py_ssize_t extra) {
    if (b->n + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    Py_UCS4 *d = PyMem_Realloc(b->d, cap * sizeof(Py_UCS4));
    if (!d) { PyErr_NoMemory(); return -1; }
    b->d = d;
    b->cap = cap;
    return 0;
}

static int ubuf_put(UBuf *b, const Py_UCS4 *s, Py_ssize_t n) {
    if (n == 0) return 0;
    if (ubuf_reserve(b, n) < 0) return -1;
    memcpy(b->d + b->n, s, n * sizeof(Py_UCS4));
    b->n += n;
    return 0;
}

typedef struct {
    Py_ssize_t start, len;  /* in the page's text buffer */
    int tag;                /* T_* of the innermost open block element, T_NONE for loose text */
    Py_ssize_t link_chars;
    int first;
} Blk;

typedef struct { Blk *d; Py_ssize_t n, cap; } BlkBuf;

static int blk_push(BlkBuf *b, Blk blk) {
    if (b->n == b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 64;
        Blk *d = PyMem_Realloc(b->d, cap * sizeof(Blk));
        if (!d) { PyErr_NoMemory(); return -1; }
        b->d = d;
        b->cap = cap;
    }
    b->d[b->n++] = blk;
    return 0;
}

static inline int is_space(Py_UCS4 c) { return Py_UNICODE_ISSPACE(c); }
/* re's \w: alphanumeric or underscore */
static inline int is_word(Py_UCS4 c) {
    if (c < 128) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                        (c >= 'A' && c <= 'Z');
    return Py_UNICODE_ISALNUM(c);
}

/* ---- blocks ---- */
typedef struct {
    UBuf raw;      /* the escaped text of the block being read (Python's `parts` joined) */
    UBuf text;     /* all blocks' final texts, one after another */
    BlkBuf blocks;
    int bail;      /* input this module does not handle exactly like Python */
} Scan;

/* len(s.strip()) */
static Py_ssize_t stripped_len(const Py_UCS4 *s, Py_ssize_t n) {
    Py_ssize_t a = 0, b = n;
    while (a < b && is_space(s[a])) a++;
    while (b > a && is_space(s[b - 1])) b--;
    return b - a;
}

static int starts(const Py_UCS4 *s, Py_ssize_t n, const char *lit) {
    Py_ssize_t k = 0;
    for (; lit[k]; k++)
        if (k >= n || s[k] != (Py_UCS4)(unsigned char)lit[k]) return 0;
    return (int)k;
}

/* blocks._append: html.unescape (only &amp; &quot; &lt; &gt;, what resiliparse writes), collapse
 * whitespace; a block when anything is left. Returns 1 when a block was added, 0 when blank,
 * -1 on error. */
static int append_block(Scan *sc, int tag, Py_ssize_t link_chars, int first) {
    const Py_UCS4 *s = sc->raw.d;
    Py_ssize_t n = sc->raw.n;
    if (ubuf_reserve(&sc->text, n) < 0) return -1;
    Py_UCS4 *out = sc->text.d + sc->text.n;
    Py_ssize_t len = 0;
    int pending_space = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = s[i];
        if (c == '&') {
            int k;
            if ((k = starts(s + i, n - i, "&amp;"))) c = '&';
            else if ((k = starts(s + i, n - i, "&quot;"))) c = '"';
            else if ((k = starts(s + i, n - i, "&lt;"))) c = '<';
            else if ((k = starts(s + i, n - i, "&gt;"))) c = '>';
            else { sc->bail = 1; return 0; }
            i += k - 1;
        } else if (is_space(c)) {
            pending_space = len > 0;
            continue;
        }
        if (pending_space) { out[len++] = ' '; pending_space = 0; }
        out[len++] = c;
    }
    sc->raw.n = 0;
    if (!len) return 0;
    Blk b = {sc->text.n, len, tag, link_chars < len ? link_chars : len, first};
    sc->text.n += len;
    return blk_push(&sc->blocks, b) < 0 ? -1 : 1;
}

static inline int ci(Py_UCS4 c, char lower) {
    return c == (Py_UCS4)lower || c == (Py_UCS4)(lower - 32);
}

/* blocks._TOKEN at s[j] == '<': 1 with closing, tag, end (past '>'), or 0. */
static int match_token(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j, int *closing, int *tag,
                       Py_ssize_t *end, int *bail) {
    Py_ssize_t k = j + 1;
    *closing = k < n && s[k] == '/';
    if (*closing) k++;
    static const char *names[] = {"p", "h", "pre", "li", "ul", "ol", "a", "br"};
    for (int a = 0; a < 8; a++) {
        const char *name = names[a];
        Py_ssize_t m = k;
        int ok = 1;
        for (const char *p = name; *p; p++, m++) {
            if (m >= n) { ok = 0; break; }
            if (!ci(s[m], *p)) {
                /* re.IGNORECASE also takes dotless and dotted I for i: leave those to Python */
                if (*p == 'i' && (s[m] == 0x130 || s[m] == 0x131)) *bail = 1;
                ok = 0;
                break;
            }
        }
        if (!ok) continue;
        int t;
        if (a == 1) { /* h[1-6] */
            if (m >= n || s[m] < '1' || s[m] > '6') continue;
            t = T_H1 + (int)(s[m] - '1');
            m++;
        } else {
            static const int codes[] = {T_P, -1, T_PRE, T_LI, T_UL, T_OL, T_A, T_BR};
            t = codes[a];
        }
        if (m < n && is_word(s[m])) continue; /* \b */
        for (Py_ssize_t q = m; q < n; q++) {
            if (s[q] == '>') {
                *tag = t;
                *end = q + 1;
                return 1;
            }
        }
        return 0; /* no '>' after: no alternative can match */
    }
    return 0;
}

static int add_part(Scan *sc, const Py_UCS4 *s, Py_ssize_t n, int link_depth, Py_ssize_t *link) {
    if (ubuf_put(&sc->raw, s, n) < 0) return -1;
    if (link_depth) *link += stripped_len(s, n);
    return 0;
}

/* blocks.blocks() over s (the minimal HTML with "<br>" appended). */
static int cut_blocks(Scan *sc, const Py_UCS4 *s, Py_ssize_t n) {
    int stack[256];
    int depth = 0;
    Py_ssize_t link_depth = 0, link = 0;
    int new_block = 1;
    Py_ssize_t pos = 0;
    static const Py_UCS4 space = ' ';
    for (Py_ssize_t j = 0; j < n; j++) {
        if (s[j] != '<') continue;
        int closing, tag;
        Py_ssize_t end;
        if (!match_token(s, n, j, &closing, &tag, &end, &sc->bail)) {
            if (sc->bail) return 0;
            continue;
        }
        const Py_UCS4 *text = s + pos;
        Py_ssize_t tn = j - pos;
        pos = end;
        /* the text before the token */
        int blank = 1, newline = 0;
        for (Py_ssize_t i = 0; i < tn; i++) {
            if (!is_space(text[i])) blank = 0;
            if (text[i] == '\n') newline = 1;
        }
        if (tn && !blank) {
            if (depth || !newline) {
                if (add_part(sc, text, tn, link_depth, &link) < 0) return -1;
            } else { /* loose text: each line is a block */
                Py_ssize_t a = 0;
                for (Py_ssize_t i = 0; i < tn; i++) {
                    if (text[i] != '\n') continue;
                    if (add_part(sc, text + a, i - a, link_depth, &link) < 0) return -1;
                    if (append_block(sc, T_NONE, link, new_block) < 0) return -1;
                    if (sc->bail) return 0;
                    link = 0;
                    new_block = 1;
                    a = i + 1;
                }
                if (add_part(sc, text + a, tn - a, link_depth, &link) < 0) return -1;
            }
        } else if (tn) {
            if (!depth && newline) {
                if (append_block(sc, T_NONE, link, new_block) < 0) return -1;
                if (sc->bail) return 0;
                link = 0;
                new_block = 1;
            } else if (ubuf_put(&sc->raw, &space, 1) < 0) {
                return -1;
            }
        }
        /* the token */
        if (tag == T_A) {
            link_depth += closing ? -1 : 1;
            if (link_depth < 0) link_depth = 0;
            j = end - 1;
            continue;
        }
        /* Python's `if parts:` (blank text adds no block) */
        int added = append_block(sc, depth ? stack[depth - 1] : T_NONE, link, new_block);
        if (added < 0) return -1;
        if (sc->bail) return 0;
        if (added) new_block = 0;
        link = 0;
        j = end - 1;
        if (tag == T_BR) continue;
        new_block = 1;
        if (closing) {
            for (int d = depth - 1; d >= 0; d--) {
                if (stack[d] == tag) { depth = d; break; }
            }
        } else if (tag != T_UL && tag != T_OL) {
            if (depth == (int)(sizeof stack / sizeof stack[0])) { sc->bail = 1; return 0; }
            stack[depth++] = tag;
        }
    }
    return 0;
}

/* ---- cue matching: a backtracking matcher for blocks' cue regexes ---- */
typedef struct Cont {
    int kind;             /* 0: go on at pc; 1: one more iteration of the repeat at pc done */
    int pc, count;
    Py_ssize_t start;
    const struct Cont *next;
} Cont;

typedef struct { const Py_UCS4 *s; Py_ssize_t n; int too_deep; } Subject; /* too_deep: decline */

static int run(Subject *su, int pc, Py_ssize_t pos, const Cont *k, int depth);

static int in_class(const int32_t *p, int items, Py_UCS4 c) {
    int negate = p[0];
    const int32_t *it = p + 1;
    int hit = 0;
    for (int i = 0; i < items && !hit; i++, it += 3) {
        switch (it[0]) {
        case IN_LIT: hit = c == (Py_UCS4)it[1]; break;
        case IN_RANGE: hit = c >= (Py_UCS4)it[1] && c <= (Py_UCS4)it[2]; break;
        case IN_DIGIT: hit = c < 128 ? (c >= '0' && c <= '9') : Py_UNICODE_ISDECIMAL(c); break;
        case IN_NOT_DIGIT: hit = c < 128 ? !(c >= '0' && c <= '9') : !Py_UNICODE_ISDECIMAL(c); break;
        case IN_WORD: hit = is_word(c); break;
        case IN_NOT_WORD: hit = !is_word(c); break;
        case IN_SPACE: hit = Py_UNICODE_ISSPACE(c); break;
        case IN_NOT_SPACE: hit = !Py_UNICODE_ISSPACE(c); break;
        }
    }
    return hit != negate;
}

static int repeat(Subject *su, int rpc, int count, Py_ssize_t pos, const Cont *k, int depth) {
    int min = prog[rpc + 1], max = prog[rpc + 2], body = prog[rpc + 3], after = prog[rpc + 4];
    if (count < max) { /* greedy: one more first */
        Cont kk = {1, rpc, count + 1, pos, k};
        if (run(su, body, pos, &kk, depth + 1)) return 1;
    }
    return count >= min && run(su, after, pos, k, depth + 1);
}

static int run(Subject *su, int pc, Py_ssize_t pos, const Cont *k, int depth) {
    const Py_UCS4 *s = su->s;
    Py_ssize_t n = su->n;
    if (depth > 2000) { su->too_deep = 1; return 0; } /* the page is declined */
    for (;;) {
        switch (prog[pc]) {
        case OP_LIT:
            if (pos < n && s[pos] == (Py_UCS4)prog[pc + 1]) { pos++; pc += 2; break; }
            return 0;
        case OP_IN: {
            int items = prog[pc + 1];
            if (pos < n && in_class(prog + pc + 2, items, s[pos])) { pos++; pc += 3 + 3 * items; break; }
            return 0;
        }
        case OP_AT: {
            int ok;
            switch (prog[pc + 1]) {
            case AT_BEGIN: ok = pos == 0; break;
            case AT_END: ok = pos == n; break;
            default: {
                int before = pos > 0 && is_word(s[pos - 1]), here = pos < n && is_word(s[pos]);
                ok = (before != here) == (prog[pc + 1] == AT_BOUNDARY);
            }
            }
            if (!ok) return 0;
            pc += 2;
            break;
        }
        case OP_BRANCH: {
            int alts = prog[pc + 1];
            Cont kk = {0, prog[pc + 2], 0, 0, k};
            for (int a = 0; a < alts; a++) {
                int ap = prog[pc + 3 + a];
                if (prog[ap] == OP_LIT && (pos >= n || s[pos] != (Py_UCS4)prog[ap + 1])) continue;
                if (run(su, ap, pos, &kk, depth + 1)) return 1;
            }
            return 0;
        }
        case OP_REPEAT:
            return repeat(su, pc, 0, pos, k, depth);
        case OP_SUCC:
            if (!k) return 1;
            if (k->kind == 0) { pc = k->pc; k = k->next; break; }
            if (pos == k->start) return 0; /* an empty iteration: no progress */
            return repeat(su, k->pc, k->count, pos, k->next, depth + 1);
        default:
            return 0;
        }
    }
}

/* str.lower() of s into out (U+0130 lowers to two characters; the rest one to one). */
static int lower_into(UBuf *out, const Py_UCS4 *s, Py_ssize_t n) {
    out->n = 0;
    if (ubuf_reserve(out, 2 * n) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = s[i];
        if (c < 128) out->d[out->n++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        else if (c == 0x130) { out->d[out->n++] = 'i'; out->d[out->n++] = 0x307; }
        else out->d[out->n++] = Py_UNICODE_TOLOWER(c);
    }
    return 0;
}

/* Try the alternatives of one dispatch bucket at pos. */
static unsigned try_bucket(Subject *su, int where, int bucket, Py_ssize_t pos, unsigned found) {
    int start = disp[2 * (where * N_BUCKETS + bucket)];
    int count = disp[2 * (where * N_BUCKETS + bucket) + 1];
    for (int e = start; e < start + count; e++) {
        int cue = entries[2 * e], pc = entries[2 * e + 1];
        if ((found >> cue) & 1) continue;
        /* most alternatives start with two literals: the first is the bucket's, peek the second */
        if (prog[pc] == OP_LIT && prog[pc + 2] == OP_LIT &&
            (pos + 1 >= su->n || su->s[pos + 1] != (Py_UCS4)prog[pc + 3]))
            continue;
        if (run(su, pc, pos, NULL, 0)) found |= 1u << cue;
    }
    return found;
}

/* which cues match the lowercased block text: bit j for cue j */
static unsigned cue_bits(const Py_UCS4 *s, Py_ssize_t n, int *too_deep) {
    unsigned found = 0, all = (1u << n_cues) - 1;
    Subject su = {s, n, 0};
    for (Py_ssize_t pos = 0; pos < n && found != all; pos++) {
        Py_UCS4 c = s[pos];
        int bucket = c < 128 ? (int)c : 128;
        found = try_bucket(&su, W_ANYWHERE, bucket, pos, found);
        if (pos == 0 || !is_word(s[pos - 1])) found = try_bucket(&su, W_WORD, bucket, pos, found);
        if (pos == 0) found = try_bucket(&su, W_BLOCK, bucket, pos, found);
    }
    /* alternatives that can match empty text are tried at the end too */
    for (int where = 0; where < 3; where++) {
        if (where == W_BLOCK && n) continue;
        found = try_bucket(&su, where, N_BUCKETS - 1, n, found);
    }
    if (su.too_deep) *too_deep = 1;
    return found;
}

/* ---- features ---- */
static double *window_mean(const double *v, Py_ssize_t n, double edge, double *out) {
    /* blocks._window(values, edge, 5): prefix sums over the padded values */
    Py_ssize_t m = n + 4;
    double *pre = PyMem_Malloc((m + 1) * sizeof(double));
    if (!pre) return NULL;
    pre[0] = 0.0;
    for (Py_ssize_t i = 0; i < m; i++) {
        double x = (i < 2 || i >= n + 2) ? edge : v[i - 2];
        pre[i + 1] = pre[i] + x;
    }
    for (Py_ssize_t i = 0; i < n; i++) out[i] = (pre[i + 5] - pre[i]) / 5.0;
    PyMem_Free(pre);
    return out;
}

static int is_sentence_end(Py_UCS4 c) {
    for (Py_ssize_t i = 0; i < n_sentence_end; i++)
        if (sentence_end[i] == c) return 1;
    return 0;
}

/* The feature rows of the scanned blocks into x: 0, or -1 with an exception. */
static int features_of(Scan *sc, double *x, Py_ssize_t n_feat) {
    Py_ssize_t n = sc->blocks.n;
    const Py_UCS4 *text = sc->text.d;
    double *tmp = PyMem_Calloc(10 * (size_t)n + 1, sizeof(double));
    unsigned *cues = PyMem_Calloc((size_t)n + 1, sizeof(unsigned));
    UBuf low = {0};
    if (!tmp || !cues) goto nomem;
    double *chars = tmp, *words = tmp + n, *link = tmp + 2 * n, *logw = tmp + 3 * n,
           *longw = tmp + 4 * n, *win = tmp + 5 * n;
    const int cue0 = N_BEFORE, a0 = N_BEFORE + n_cues;
#define X(i, col) x[(i) * n_feat + (col)]
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Blk *b = &sc->blocks.d[i];
        const Py_UCS4 *t = text + b->start;
        Py_ssize_t len = b->len, head = len < head_len ? len : head_len;
        long spaces = 0, hwords = 0, punct = 0, digits = 0, upper = 0, letters = 0, cjk = 0;
        for (Py_ssize_t k = 0; k < len; k++) spaces += t[k] == ' ';
        int prev_space = 1;
        for (Py_ssize_t k = 0; k < head; k++) {
            Py_UCS4 c = t[k];
            uint8_t f = cls_table[c < 0x10000 ? c : 0x10000];
            int sp = (f & F_SPACE) != 0;
            if (prev_space && !sp) hwords++;
            if (prev_space && (f & F_UPPER)) upper++;
            punct += (f & F_PUNCT) != 0;
            digits += (f & F_DIGIT) != 0;
            letters += (f & F_LETTER) != 0;
            cjk += (f & F_CJK) != 0;
            prev_space = sp;
        }
        chars[i] = (double)len;
        double head_chars = (double)head;
        words[i] = ((double)spaces + 1.0) + (double)cjk * (chars[i] / head_chars) / cjk_chars_per_word;
        double head_words = (double)(hwords > 1 ? hwords : 1);
        link[i] = (double)b->link_chars / (len > 1 ? (double)len : 1.0);
        logw[i] = log1p(words[i]);
        total += chars[i];
        X(i, 0) = 1.0;
        X(i, 1) = logw[i];
        X(i, 2) = log1p(chars[i]);
        X(i, 3) = link[i];
        X(i, 4) = is_sentence_end(t[len - 1]);
        double ppw = (double)punct / head_words;
        X(i, 5) = ppw < 2.0 ? ppw : 2.0;
        X(i, 6) = (double)digits / head_chars;
        X(i, 7) = (double)upper / head_words;
        if (len <= cue_chars) {
            if (lower_into(&low, t, len) < 0) goto nomem;
            cues[i] = cue_bits(low.d, low.n, &sc->bail);
        }
        for (int j = 0; j < n_cues; j++) X(i, cue0 + j) = (cues[i] >> j) & 1;
        X(i, a0 + 0) = letters == 0;
        X(i, a0 + 3) = b->first;
        for (int j = 0; j < 7; j++) X(i, a0 + 4 + j) = TAG_COLUMN[b->tag] == j;
        longw[i] = (words[i] >= 25 && link[i] < 0.3) ? words[i] : 0.0;
    }
    PyMem_Free(low.d);
    low.d = NULL; /* freed again at nomem */
    if (total < 1.0) total = 1.0;
    double cum = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        cum += chars[i];
        double position = (cum - chars[i]) / total;
        X(i, a0 + 1) = position;
        X(i, a0 + 2) = position * position;
        X(i, a0 + 11) = chars[i] / total;
        X(i, a0 + 12) = i ? logw[i - 1] : 0.0;
        X(i, a0 + 13) = i + 1 < n ? logw[i + 1] : 0.0;
        X(i, a0 + 14) = i ? link[i - 1] : 1.0;
        X(i, a0 + 15) = i + 1 < n ? link[i + 1] : 1.0;
    }
    if (!window_mean(logw, n, 0.0, win)) goto nomem;
    for (Py_ssize_t i = 0; i < n; i++) X(i, a0 + 16) = win[i];
    if (!window_mean(link, n, 1.0, win)) goto nomem;
    for (Py_ssize_t i = 0; i < n; i++) X(i, a0 + 17) = win[i];
    Py_ssize_t first_long = -1, last_long = -1, longest = 0;
    double best = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (longw[i] != 0.0) {
            if (first_long < 0) first_long = i;
            last_long = i;
        }
        double w = link[i] < 0.3 ? words[i] : -1.0;
        if (i == 0 || w > best) { best = w; longest = i; }
    }
    /* the long words after each block: sums from the page's end, as blocks.features does */
    double *after = words; /* words is not needed any more */
    double suffix = 0.0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        after[i] = suffix;
        suffix += longw[i];
    }
    double cum_long = 0.0;
    Py_ssize_t prev_long = -1;
    /* distance to the nearest long block: a forward then a backward sweep */
    double *nearest = win;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (longw[i] != 0.0) prev_long = i;
        nearest[i] = prev_long >= 0 ? (double)(i - prev_long) : INFINITY;
    }
    Py_ssize_t next_long = -1;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        if (longw[i] != 0.0) next_long = i;
        if (next_long >= 0 && (double)(next_long - i) < nearest[i]) nearest[i] = (double)(next_long - i);
    }
    double after_cue = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (first_long >= 0) {
            X(i, a0 + 18) = i >= first_long;
            X(i, a0 + 19) = i <= last_long;
            X(i, a0 + 20) = (double)(i > longest ? i - longest : longest - i) / (double)n;
            X(i, a0 + 23) = log1p(nearest[i]);
        } else {
            X(i, a0 + 18) = X(i, a0 + 19) = 0.0;
            X(i, a0 + 20) = 1.0;
            X(i, a0 + 23) = log1p((double)n);
        }
        X(i, a0 + 21) = log1p(cum_long);
        cum_long += longw[i];
        X(i, a0 + 22) = log1p(after[i]);
        double rs = ((cues[i] >> cue_related) & 1) | ((cues[i] >> cue_social) & 1);
        if (rs > after_cue) after_cue = rs;
        X(i, a0 + 24) = after_cue;
    }
#undef X
    PyMem_Free(tmp);
    PyMem_Free(cues);
    return 0;
nomem:
    PyMem_Free(low.d);
    PyMem_Free(tmp);
    PyMem_Free(cues);
    PyErr_NoMemory();
    return -1;
}

/* ---- Python API ---- */
/* A copy of a buffer of `item`-byte items (at least min_items), or NULL with an exception. */
static void *copy_buffer(PyObject *obj, size_t item, Py_ssize_t *count, Py_ssize_t min_items) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len % (Py_ssize_t)item || view.len / (Py_ssize_t)item < min_items) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "configure(): a buffer has the wrong size");
        return NULL;
    }
    void *d = PyMem_Malloc(view.len ? view.len : 1);
    if (!d) { PyBuffer_Release(&view); PyErr_NoMemory(); return NULL; }
    memcpy(d, view.buf, view.len);
    *count = view.len / (Py_ssize_t)item;
    PyBuffer_Release(&view);
    return d;
}

/* Whether the program is well formed: nodes laid end to end, each sequence ending in SUCC, and
 * every jump (branch alternatives, continuations, repeat bodies) landing on a node's start. */
static int valid_program(const int32_t *p, Py_ssize_t len) {
    char *start = PyMem_Calloc(len + 1, 1);
    if (!start) return 0;
    int ok = 1;
    Py_ssize_t pc = 0;
    while (ok && pc < len) { /* first pass: node starts and sizes */
        start[pc] = 1;
        Py_ssize_t size;
        switch (p[pc]) {
        case OP_LIT: case OP_AT: size = 2; break;
        case OP_IN: size = pc + 1 < len && p[pc + 1] >= 0 ? 3 + 3 * (Py_ssize_t)p[pc + 1] : -1; break;
        case OP_BRANCH: size = pc + 1 < len && p[pc + 1] >= 0 ? 3 + (Py_ssize_t)p[pc + 1] : -1; break;
        case OP_REPEAT: size = 5; break;
        case OP_SUCC: size = 1; break;
        default: size = -1;
        }
        if (size < 0 || pc + size > len) ok = 0;
        else pc += size;
    }
    if (ok && p[len - 1] != OP_SUCC) ok = 0;
#define TARGET(t) ((t) >= 0 && (t) < len && start[(t)])
    for (pc = 0; ok && pc < len; pc++) { /* second pass: jumps and operands */
        if (!start[pc]) continue;
        switch (p[pc]) {
        case OP_AT: ok = p[pc + 1] >= AT_BEGIN && p[pc + 1] <= AT_END; break;
        case OP_IN:
            for (int i = 0; ok && i < p[pc + 1]; i++)
                ok = p[pc + 3 + 3 * i] >= IN_LIT && p[pc + 3 + 3 * i] <= IN_NOT_SPACE;
            break;
        case OP_BRANCH:
            ok = TARGET(p[pc + 2]);
            for (int i = 0; ok && i < p[pc + 1]; i++) ok = TARGET(p[pc + 3 + i]);
            break;
        case OP_REPEAT:
            ok = p[pc + 1] >= 0 && p[pc + 2] >= p[pc + 1] && TARGET(p[pc + 3]) && TARGET(p[pc + 4]);
            break;
        }
    }
#undef TARGET
    PyMem_Free(start);
    return ok;
}

static PyObject *configure(PyObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"classes", "program", "dispatch", "entries", "n_cues", "related",
                            "social", "cue_chars", "head", "sentence_end", "cjk_chars_per_word",
                            NULL};
    PyObject *classes, *program, *dispatch, *ents, *ends;
    int nc, rel, soc;
    Py_ssize_t cc, hl;
    double cpw;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOiiinnUd", names, &classes, &program, &dispatch,
                                     &ents, &nc, &rel, &soc, &cc, &hl, &ends, &cpw))
        return NULL;
    if (nc < 1 || nc > 30 || rel < 0 || rel >= nc || soc < 0 || soc >= nc) {
        PyErr_SetString(PyExc_ValueError, "configure(): bad cue numbers");
        return NULL;
    }
    /* everything is checked before anything is installed: a refused call changes nothing */
    Py_ssize_t n_cls, n_prog, n_disp, n_ent;
    uint8_t *c = copy_buffer(classes, 1, &n_cls, 0x10001);
    int32_t *p = c ? copy_buffer(program, 4, &n_prog, 1) : NULL;
    int32_t *d = p ? copy_buffer(dispatch, 4, &n_disp, 2 * N_WHERE * N_BUCKETS) : NULL;
    int32_t *e = d ? copy_buffer(ents, 4, &n_ent, 0) : NULL;
    Py_UCS4 *se = e ? PyUnicode_AsUCS4Copy(ends) : NULL;
    const char *problem = NULL;
    if (se) {
        n_ent /= 2;
        if (!valid_program(p, n_prog)) problem = "configure(): a malformed program";
        for (Py_ssize_t i = 0; !problem && i < n_ent; i++) {
            if (e[2 * i] < 0 || e[2 * i] >= nc || e[2 * i + 1] < 0 || e[2 * i + 1] >= n_prog)
                problem = "configure(): an entry out of range";
        }
        for (int b = 0; !problem && b < N_WHERE * N_BUCKETS; b++) {
            if (d[2 * b] < 0 || d[2 * b + 1] < 0 || (Py_ssize_t)d[2 * b] + d[2 * b + 1] > n_ent)
                problem = "configure(): a dispatch bucket out of range";
        }
        if (problem) PyErr_SetString(PyExc_ValueError, problem);
    }
    int ok = se && !problem;
    if (ok) { /* install the new tables; the old ones are freed below */
#define SWAP(T, a, b) do { T tmp_ = (a); (a) = (b); (b) = tmp_; } while (0)
        SWAP(uint8_t *, c, cls_table);
        SWAP(int32_t *, p, prog);
        SWAP(int32_t *, d, disp);
        SWAP(int32_t *, e, entries);
        SWAP(Py_UCS4 *, se, sentence_end);
#undef SWAP
        prog_len = n_prog;
        n_entries = n_ent;
        n_sentence_end = PyUnicode_GET_LENGTH(ends);
        n_cues = nc;
        cue_related = rel;
        cue_social = soc;
        cue_chars = cc;
        head_len = hl;
        cjk_chars_per_word = cpw;
    }
    PyMem_Free(c);
    PyMem_Free(p);
    PyMem_Free(d);
    PyMem_Free(e);
    PyMem_Free(se);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *scan(PyObject *self, PyObject *arg) {
    (void)self;
    if (!prog) {
        PyErr_SetString(PyExc_RuntimeError, "_blockscan.scan() before configure()");
        return NULL;
    }
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "scan() takes a str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    Py_UCS4 *s = PyMem_Malloc((n + 4) * sizeof(Py_UCS4));
    if (!s) return PyErr_NoMemory();
    if (!PyUnicode_AsUCS4(arg, s, n + 4, 0)) { PyMem_Free(s); return NULL; }
    if (PyUnicode_KIND(arg) != PyUnicode_1BYTE_KIND) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (s[i] >= 0xD800 && s[i] <= 0xDFFF) { /* lone surrogates: Python's path raises */
                PyMem_Free(s);
                Py_RETURN_NONE;
            }
        }
    }
    static const Py_UCS4 br[4] = {'<', 'b', 'r', '>'};
    memcpy(s + n, br, sizeof br);
    Scan sc = {{0}, {0}, {0}, 0};
    PyObject *result = NULL, *texts = NULL, *first = NULL, *x = NULL;
    if (cut_blocks(&sc, s, n + 4) < 0) goto done;
    if (sc.bail) { result = Py_NewRef(Py_None); goto done; }
    Py_ssize_t nb = sc.blocks.n, n_feat = N_BEFORE + n_cues + N_AFTER;
    texts = PyList_New(nb);
    first = PyBytes_FromStringAndSize(NULL, nb);
    x = PyBytes_FromStringAndSize(NULL, nb * n_feat * (Py_ssize_t)sizeof(double));
    if (!texts || !first || !x) goto done;
    for (Py_ssize_t i = 0; i < nb; i++) {
        Blk *b = &sc.blocks.d[i];
        PyObject *t = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, sc.text.d + b->start, b->len);
        if (!t) goto done;
        PyList_SET_ITEM(texts, i, t);
        PyBytes_AS_STRING(first)[i] = (char)b->first;
    }
    if (nb && features_of(&sc, (double *)PyBytes_AS_STRING(x), n_feat) < 0) goto done;
    if (sc.bail) { result = Py_NewRef(Py_None); goto done; } /* a cue match too deep to follow */
    result = PyTuple_Pack(3, texts, first, x);
done:
    Py_XDECREF(texts);
    Py_XDECREF(first);
    Py_XDECREF(x);
    PyMem_Free(s);
    PyMem_Free(sc.raw.d);
    PyMem_Free(sc.text.d);
    PyMem_Free(sc.blocks.d);
    return result;
}

static PyObject *names_tuple(const char **names, int n) {
    PyObject *t = PyTuple_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);
        if (!s) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "configure(classes, program, dispatch, entries, n_cues, related, social, cue_chars, head, "
     "sentence_end, cjk_chars_per_word): set what defines the features (blocks.py does this)."},
    {"scan", scan, METH_O,
     "scan(minimal_html) -> (texts, first_in_block bytes, features as float64 bytes) or None "
     "when the input needs the Python path."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_blockscan",
                                    "blocks() and features() of danlu.curate.blocks in C.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__blockscan(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    PyObject *before = names_tuple(BEFORE, N_BEFORE), *after = names_tuple(AFTER, N_AFTER);
    if (!before || !after || PyModule_AddObject(m, "FEATURES_BEFORE_CUES", before) < 0 ||
        PyModule_AddObject(m, "FEATURES_AFTER_CUES", after) < 0) {
        Py_XDECREF(before);
        Py_XDECREF(after);
        Py_DECREF(m);
        return NULL;
    }
    /* the program's codes, for blockscan.py's compiler */
    static const struct { const char *name; int value; } codes[] = {
        {"OP_LIT", OP_LIT}, {"OP_IN", OP_IN}, {"OP_AT", OP_AT}, {"OP_BRANCH", OP_BRANCH},
        {"OP_REPEAT", OP_REPEAT}, {"OP_SUCC", OP_SUCC}, {"AT_BEGIN", AT_BEGIN},
        {"AT_BOUNDARY", AT_BOUNDARY}, {"AT_NON_BOUNDARY", AT_NON_BOUNDARY}, {"AT_END", AT_END},
        {"IN_LIT", IN_LIT}, {"IN_RANGE", IN_RANGE}, {"IN_DIGIT", IN_DIGIT},
        {"IN_NOT_DIGIT", IN_NOT_DIGIT}, {"IN_WORD", IN_WORD}, {"IN_NOT_WORD", IN_NOT_WORD},
        {"IN_SPACE", IN_SPACE}, {"IN_NOT_SPACE", IN_NOT_SPACE}, {"F_SPACE", F_SPACE},
        {"F_PUNCT", F_PUNCT}, {"F_DIGIT", F_DIGIT}, {"F_UPPER", F_UPPER}, {"F_LETTER", F_LETTER},
        {"F_CJK", F_CJK}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (PyModule_AddIntConstant(m, codes[i].name, codes[i].value) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
