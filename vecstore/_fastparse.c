/*
 * vecstore._fastparse: the hot loop of a text import, in C.
 *
 * Parses "word v1 ... vdim" lines (single spaces, "\n" or "\r\n" ends) from a byte
 * buffer into a float32 matrix and the (start, end) byte offsets of each word. The
 * GIL is released while parsing, so Python runs one call per core on line-aligned
 * slices of the file. Any deviation from that grammar stops the call and reports the
 * row; Python then names the file, line and fault with its own line-by-line scan
 * (vecstore.io.readers.line_problem), which defines the format.
 *
 * Numbers are rounded correctly to float32: a decimal with at most 7 significant
 * digits and a power of ten within 10^+-10 is exact in float32 on both sides, so one
 * multiplication or division rounds it once (Clinger's fast path); any other token is
 * handed to strtof, which rounds correctly too. A value beyond the float32 range
 * fails its line like any other fault.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define IS_LITTLE_ENDIAN 1
#else
#define IS_LITTLE_ENDIAN 0
#endif

/* The longest line (or binary word) read; vecstore.limits.MAX_LINE_BYTES, pinned by a test. */
#define MAX_LINE_BYTES (4 << 20)

static const float POW10F[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

/*
 * Parse the number starting at p (the line ends at end). Returns the position just
 * after it, which must be a space or the line end, or NULL when the token is not a
 * number. Tokenising and converting in one pass is ~2x faster than memchr per token.
 */
static const char *parse_float(const char *p, const char *end, float *out) {
    const char *start = p;
    int negative = 0;
    if (p < end && (*p == '-' || *p == '+')) {
        negative = (*p == '-');
        p++;
    }
    /* Up to 18 significant digits are kept exactly; later ones only scale. */
    uint64_t mantissa = 0;
    int exp10 = 0;
    const char *digits_start = p;
    while (p < end && (unsigned)(*p - '0') < 10) {
        if (mantissa < 100000000000000000ULL) mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        else exp10++;
        p++;
    }
    int seen_digit = p != digits_start;
    if (p < end && *p == '.') {
        const char *fraction_start = ++p;
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (mantissa < 100000000000000000ULL) { mantissa = mantissa * 10 + (uint64_t)(*p - '0'); exp10--; }
            p++;
        }
        seen_digit |= p != fraction_start;
    }
    if (!seen_digit) return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, e = 0, edigits = 0;
        if (p < end && (*p == '-' || *p == '+')) { eneg = (*p == '-'); p++; }
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (e < 100000) e = e * 10 + (*p - '0');
            edigits++;
            p++;
        }
        if (!edigits) return NULL;
        exp10 += eneg ? -e : e;
    }
    if (p != end && *p != ' ') return NULL;
    if (mantissa == 0) { *out = negative ? -0.0f : 0.0f; return p; }
    if (mantissa <= (1u << 24) && exp10 >= -10 && exp10 <= 10) {
        float value = (float)mantissa;
        value = exp10 < 0 ? value / POW10F[-exp10] : value * POW10F[exp10];
        *out = negative ? -value : value;
        return p;
    }
    /* Rare: more than 7 significant digits or a large exponent. */
    char buffer[128];
    Py_ssize_t length = p - start;
    if (length >= (Py_ssize_t)sizeof(buffer)) return NULL;
    memcpy(buffer, start, (size_t)length);
    buffer[length] = '\0';
    char *stop = NULL;
    *out = strtof(buffer, &stop);
    /* Beyond float32 is an error: Python names it (vecstore.io.readers.line_problem). */
    return stop == buffer + length && isfinite(*out) ? p : NULL;
}

/* The number of leading decimal digits in the 8 bytes of x (first byte lowest), and in
 * *digits their values with the bytes after them cleared. Bytes after the first
 * non-digit may be garbled by borrows; they are never used. */
static inline int leading_digits(uint64_t x, uint64_t *digits) {
    uint64_t d = x - 0x3030303030303030ULL;
    uint64_t nondigit = (d | (d + 0x7676767676767676ULL)) & 0x8080808080808080ULL;
    int n = nondigit ? __builtin_ctzll(nondigit) >> 3 : 8;
    *digits = n ? d << (8 * (8 - n)) : 0; /* the n digits as the top bytes, zeros below */
    return n;
}

/* The value of 8 digit bytes (0..9 each, first digit in the lowest byte): three
 * multiplications instead of a loop (the "eight digits" trick of fast_float). */
static inline uint64_t eight_digits(uint64_t d) {
    d = (d * 10) + (d >> 8);
    return (((d & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
            (((d >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
}

static const uint64_t POW10U[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/*
 * The common case of parse_float without a branch per digit: an optional "-", up to 7
 * integer digits, optionally "." and up to 8 fraction digits, then a space or the line
 * end. Returns NULL for anything else (a "+", an exponent, more digits, or fewer than
 * 18 readable bytes left), and parse_float then decides. Both round the same way: this
 * is only the fast path's mantissa computed 8 digits at a time.
 */
static inline const char *parse_float_short(const char *p, const char *line_end, const char *readable_end,
                                            float *out) {
    if (!IS_LITTLE_ENDIAN) return NULL; /* the 8-byte loads assume little-endian order */
    if (readable_end - p < 18) return NULL; /* both loads and the byte after them stay readable */
    int negative = *p == '-';
    p += negative;
    uint64_t x, integer_digits, fraction_digits = 0;
    memcpy(&x, p, 8);
    int n_integer = leading_digits(x, &integer_digits);
    if (n_integer == 8) return NULL;
    const char *q = p + n_integer;
    int n_fraction = 0;
    if (*q == '.') {
        memcpy(&x, q + 1, 8);
        n_fraction = leading_digits(x, &fraction_digits);
        q += 1 + n_fraction;
        if (n_fraction == 8 && (unsigned)(*q - '0') < 10) return NULL; /* a 9th fraction digit */
    }
    if (n_integer + n_fraction == 0 || q > line_end || (q != line_end && *q != ' ')) return NULL;
    uint64_t mantissa = eight_digits(integer_digits) * POW10U[n_fraction] + eight_digits(fraction_digits);
    if (mantissa > (1u << 24)) return NULL;
    float value = (float)mantissa / POW10F[n_fraction];
    *out = negative ? -value : value;
    return q;
}

/*
 * Whether [p, end) is one decimal number as a vector value is written:
 * [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?  (vecstore.io.readers._NUMBER).
 */
static int is_decimal(const char *p, const char *end) {
    if (p < end && (*p == '+' || *p == '-')) p++;
    const char *digits = p;
    while (p < end && (unsigned)(*p - '0') < 10) p++;
    int seen = p != digits;
    if (p < end && *p == '.') {
        const char *fraction = ++p;
        while (p < end && (unsigned)(*p - '0') < 10) p++;
        seen |= p != fraction;
    }
    if (!seen) return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *exponent = p;
        while (p < end && (unsigned)(*p - '0') < 10) p++;
        if (p == exponent) return 0;
    }
    return p == end;
}

/* Parse exactly dim space-separated values filling [q, line_end). Returns 1 on success. */
static int parse_values(const char *q, const char *line_end, const char *readable_end, Py_ssize_t dim,
                        float *values) {
    for (Py_ssize_t i = 0; i < dim; i++) {
        const char *after = parse_float_short(q, line_end, readable_end, &values[i]);
        if (after == NULL) after = parse_float(q, line_end, &values[i]);
        if (after == NULL) return 0;
        if (after == line_end) return i == dim - 1;
        q = after + 1; /* the single space */
    }
    return 0; /* more than dim values */
}

/*
 * parse_lines(buffer, start, end, dim, vectors, bounds, first_row, max_rows)
 *   -> (rows_parsed, failed)
 * Parses the lines of buffer[start:end] into rows first_row.. of vectors (float32,
 * C order, dim columns) and bounds (int64 (start, end) of each word). failed is True
 * when a line does not match; rows_parsed is then that line's index from first_row.
 *
 * A line is a word, a space, and dim values separated by single spaces; trailing
 * spaces and a "\r" before the "\n" are ignored (fastText writes a trailing space).
 * A word may itself hold spaces (GloVe 840B has such lines): the vector is the last
 * dim fields, the word everything before them, unless the word's last field is itself
 * a number: that line has more values than the file's vectors (a ragged line), not a
 * word with spaces. Other Unicode spaces (NBSP, NEL) are word characters: only the
 * byte 0x20 separates. A line longer than MAX_LINE_BYTES fails.
 */
static PyObject *parse_lines(PyObject *self, PyObject *args) {
    Py_buffer text, vectors, bounds;
    Py_ssize_t start, end, dim, first_row, max_rows;
    if (!PyArg_ParseTuple(args, "y*nnnw*w*nn", &text, &start, &end, &dim, &vectors, &bounds,
                          &first_row, &max_rows))
        return NULL;
    PyObject *result = NULL;
    if (start < 0 || end > text.len || start > end || dim < 1 || first_row < 0 || max_rows < 0 ||
        (first_row + max_rows) * dim * (Py_ssize_t)sizeof(float) > vectors.len ||
        (first_row + max_rows) * 2 * (Py_ssize_t)sizeof(int64_t) > bounds.len) {
        PyErr_SetString(PyExc_ValueError, "parse_lines: arguments out of range");
        goto done;
    }
    const char *base = (const char *)text.buf;
    float *out = (float *)vectors.buf + first_row * dim;
    int64_t *words = (int64_t *)bounds.buf + first_row * 2;
    Py_ssize_t row = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *p = base + start, *stop = base + end;
    const char *readable_end = base + text.len; /* 8-byte loads may look past stop, not past this */
    while (p < stop) {
        if (row >= max_rows) { failed = 1; break; }
        const char *eol = memchr(p, '\n', (size_t)(stop - p));
        const char *line_end = eol ? eol : stop;
        if (line_end - p > MAX_LINE_BYTES) { failed = 1; break; }
        while (line_end > p && (line_end[-1] == ' ' || line_end[-1] == '\r')) line_end--;
        float *values = out + row * dim;
        const char *space = memchr(p, ' ', (size_t)(line_end - p));
        const char *split = NULL;
        if (space != NULL && space > p && parse_values(space + 1, line_end, readable_end, dim, values)) {
            split = space;
        } else if (space != NULL) {
            /* The word holds spaces: the vector is the last dim fields. */
            Py_ssize_t seen = 0;
            const char *r = line_end;
            while (r > p) {
                r--;
                if (*r == ' ' && ++seen == dim) break;
            }
            if (seen == dim && r > p && parse_values(r + 1, line_end, readable_end, dim, values)) {
                const char *w = p;
                while (w < r && *w == ' ') w++;
                const char *last = r; /* the word's last field */
                while (last > p && last[-1] != ' ') last--;
                /* a word that is not only spaces, and does not end in a number (a ragged line) */
                if (w < r && !(last > p && is_decimal(last, r))) split = r;
            }
        }
        if (split == NULL) { failed = 1; break; }
        words[2 * row] = p - base;
        words[2 * row + 1] = split - base;
        row++;
        p = eol ? eol + 1 : stop;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("nO", row, failed ? Py_True : Py_False);
done:
    PyBuffer_Release(&text);
    PyBuffer_Release(&vectors);
    PyBuffer_Release(&bounds);
    return result;
}

/*
 * decode_words(buffer, bounds, count, errors) -> list[str]
 * UTF-8-decodes the word at each (start, end) pair with the given error handler
 * ("strict" or "replace"). Under "strict", a word that is not UTF-8 raises
 * UnicodeError whose message is just its row number, for Python to locate.
 */
static PyObject *decode_words(PyObject *self, PyObject *args) {
    Py_buffer text, bounds;
    Py_ssize_t count;
    const char *errors = "strict";
    if (!PyArg_ParseTuple(args, "y*y*n|s", &text, &bounds, &count, &errors)) return NULL;
    PyObject *list = NULL;
    if (count < 0 || count * 2 * (Py_ssize_t)sizeof(int64_t) > bounds.len) {
        PyErr_SetString(PyExc_ValueError, "decode_words: count out of range");
        goto done;
    }
    list = PyList_New(count);
    if (list == NULL) goto done;
    const char *base = (const char *)text.buf;
    const int64_t *pairs = (const int64_t *)bounds.buf;
    for (Py_ssize_t row = 0; row < count; row++) {
        int64_t s = pairs[2 * row], e = pairs[2 * row + 1];
        if (s < 0 || e < s || e > text.len) {
            PyErr_SetString(PyExc_ValueError, "decode_words: bounds out of range");
            Py_CLEAR(list);
            goto done;
        }
        PyObject *word = PyUnicode_DecodeUTF8(base + s, (Py_ssize_t)(e - s), errors);
        if (word == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_UnicodeError, "%zd", row);
            }
            Py_CLEAR(list);
            goto done;
        }
        PyList_SET_ITEM(list, row, word);
    }
done:
    PyBuffer_Release(&text);
    PyBuffer_Release(&bounds);
    return list;
}

/*
 * parse_binary(buffer, start, end, dim, vectors, bounds, first_row, max_rows, final)
 *   -> (rows_parsed, consumed_offset, failed)
 * word2vec binary records: optional "\n"s, the word up to a space, then dim
 * little-endian float32. Parses whole records of buffer[start:end]; the offset after
 * the last whole record is returned so the caller can carry the rest over. With
 * final, a partial record at the end is a failure (a truncated file).
 */
static PyObject *parse_binary(PyObject *self, PyObject *args) {
    Py_buffer text, vectors, bounds;
    Py_ssize_t start, end, dim, first_row, max_rows;
    int final;
    if (!PyArg_ParseTuple(args, "y*nnnw*w*nnp", &text, &start, &end, &dim, &vectors, &bounds,
                          &first_row, &max_rows, &final))
        return NULL;
    PyObject *result = NULL;
    if (start < 0 || end > text.len || start > end || dim < 1 || first_row < 0 || max_rows < 0 ||
        (first_row + max_rows) * dim * (Py_ssize_t)sizeof(float) > vectors.len ||
        (first_row + max_rows) * 2 * (Py_ssize_t)sizeof(int64_t) > bounds.len) {
        PyErr_SetString(PyExc_ValueError, "parse_binary: arguments out of range");
        goto done;
    }
    const char *base = (const char *)text.buf;
    float *out = (float *)vectors.buf + first_row * dim;
    int64_t *words = (int64_t *)bounds.buf + first_row * 2;
    Py_ssize_t row = 0, record_bytes = dim * (Py_ssize_t)sizeof(float);
    const char *p = base + start, *stop = base + end;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    while (row < max_rows) {
        const char *w = p;
        while (w < stop && *w == '\n') w++;
        if (w == stop) { p = w; break; }
        Py_ssize_t look = stop - w < MAX_LINE_BYTES + 1 ? stop - w : MAX_LINE_BYTES + 1;
        const char *space = memchr(w, ' ', (size_t)look);
        if (space == NULL && look > MAX_LINE_BYTES) { failed = 1; p = w; break; } /* a word too long */
        if (space == NULL || stop - (space + 1) < record_bytes) {
            if (final) failed = 1; /* truncated record, or no space after a word */
            break;
        }
        if (space == w) { failed = 1; p = w; break; }
        memcpy(out + row * dim, space + 1, (size_t)record_bytes); /* little-endian hosts */
        words[2 * row] = w - base;
        words[2 * row + 1] = space - base;
        row++;
        p = space + 1 + record_bytes;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("nnO", row, (Py_ssize_t)(p - base), failed ? Py_True : Py_False);
done:
    PyBuffer_Release(&text);
    PyBuffer_Release(&vectors);
    PyBuffer_Release(&bounds);
    return result;
}

/* The shortest "%.Ng" of v (N = 6..9) that reads back as the same float32. */
static int format_shortest(char *out, size_t size, float v) {
    int n = 0;
    for (int precision = 6; precision <= 9; precision++) {
        n = snprintf(out, size, "%.*g", precision, (double)v);
        if (strtof(out, NULL) == v) break;
    }
    return n;
}

/*
 * format_glove(words, vectors, rows, dim) -> bytes
 * "word v1 ... vdim\n" for each row: words is the rows' words joined by "\n" (a word
 * chunk as stored), vectors their float32 rows. Each value is printed with the fewest
 * digits that read back as the same float32, so export then import is bit-identical.
 */
static PyObject *format_glove(PyObject *self, PyObject *args) {
    Py_buffer words, vectors;
    Py_ssize_t rows, dim;
    if (!PyArg_ParseTuple(args, "y*y*nn", &words, &vectors, &rows, &dim)) return NULL;
    PyObject *result = NULL;
    if (rows < 0 || dim < 1 || rows * dim * (Py_ssize_t)sizeof(float) > vectors.len) {
        PyErr_SetString(PyExc_ValueError, "format_glove: arguments out of range");
        goto done;
    }
    Py_ssize_t capacity = words.len + rows * (dim * 17 + 2) + 1;
    result = PyBytes_FromStringAndSize(NULL, capacity);
    if (result == NULL) goto done;
    char *out = PyBytes_AS_STRING(result), *start = out;
    const char *w = (const char *)words.buf, *w_end = w + words.len;
    const float *values = (const float *)vectors.buf;
    Py_ssize_t row = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; row < rows && w <= w_end; row++) {
        const char *nl = memchr(w, '\n', (size_t)(w_end - w));
        const char *word_end = nl ? nl : w_end;
        memcpy(out, w, (size_t)(word_end - w));
        out += word_end - w;
        for (Py_ssize_t i = 0; i < dim; i++) {
            *out++ = ' ';
            out += format_shortest(out, 32, values[row * dim + i]);
        }
        *out++ = '\n';
        w = word_end + 1;
    }
    Py_END_ALLOW_THREADS
    if (row != rows) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, "format_glove: fewer words than rows");
        goto done;
    }
    if (_PyBytes_Resize(&result, out - start) < 0) result = NULL;
done:
    PyBuffer_Release(&words);
    PyBuffer_Release(&vectors);
    return result;
}

/* A word-at-a-time hash: 8 bytes per multiply, the length mixed in last, so that a scan
 * can hash a word before it knows where the word ends. */
static const uint64_t HASH_SEED = 0x9E3779B97F4A7C15ULL;

static inline uint64_t hash_mix(uint64_t h, uint64_t block) {
    h = (h ^ block) * 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 31);
}

static inline uint64_t hash_final(uint64_t h, Py_ssize_t n) {
    h = (h ^ (uint64_t)n) * 0x94D049BB133111EBULL;
    return h ^ (h >> 29);
}

static inline uint64_t hash_bytes(const char *p, Py_ssize_t n) {
    uint64_t h = HASH_SEED, block;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&block, p + i, 8);
        h = hash_mix(h, block);
    }
    if (i < n) {
        block = 0;
        memcpy(&block, p + i, (size_t)(n - i));
        h = hash_mix(h, block);
    }
    return hash_final(h, n);
}

/*
 * lookup_words(words, count, queries) -> bytes of int64 rows, -1 where absent
 * words is a set's vocabulary as stored: count words joined by "\n", row i the i-th.
 * queries is a list of distinct bytes. The queries go into a small hash table, then
 * one pass over the words (hashing each as it is scanned) finds their rows: about
 * 5 ms for 400,000 words, where a Python dict of them takes ~70 ms to build.
 */
static PyObject *lookup_words(PyObject *self, PyObject *args) {
    Py_buffer words;
    Py_ssize_t count;
    PyObject *queries;
    if (!PyArg_ParseTuple(args, "y*nO", &words, &count, &queries)) return NULL;
    PyObject *result = NULL, *sequence = NULL;
    uint32_t *slots = NULL;
    const char **query_bytes = NULL;
    Py_ssize_t *query_sizes = NULL;
    sequence = PySequence_Fast(queries, "lookup_words: queries must be a sequence of bytes");
    if (sequence == NULL) goto done;
    Py_ssize_t n_queries = PySequence_Fast_GET_SIZE(sequence);
    if (count < 0 || n_queries >= (Py_ssize_t)(UINT32_MAX / 4)) {
        PyErr_SetString(PyExc_ValueError, "lookup_words: too many words or queries");
        goto done;
    }
    size_t n_slots = 16;
    while (n_slots < (size_t)n_queries * 2) n_slots <<= 1;
    slots = PyMem_Calloc(n_slots, sizeof(uint32_t)); /* query + 1; 0 = empty */
    query_bytes = PyMem_Malloc(sizeof(char *) * (size_t)(n_queries + 1));
    query_sizes = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_queries + 1));
    result = PyBytes_FromStringAndSize(NULL, n_queries * (Py_ssize_t)sizeof(int64_t));
    if (slots == NULL || query_bytes == NULL || query_sizes == NULL || result == NULL) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    int64_t *rows = (int64_t *)PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n_queries; i++) {
        char *q;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(sequence, i), &q, &query_sizes[i]) < 0) {
            Py_CLEAR(result);
            goto done;
        }
        query_bytes[i] = q;
        rows[i] = -1;
        size_t slot = hash_bytes(q, query_sizes[i]) & (n_slots - 1);
        while (slots[slot] != 0) slot = (slot + 1) & (n_slots - 1); /* (queries are distinct) */
        slots[slot] = (uint32_t)i + 1;
    }
    Py_ssize_t seen = 0;
    if (count == 0) goto done; /* no words: every query is absent */
    Py_BEGIN_ALLOW_THREADS
    const char *p = (const char *)words.buf, *end = p + words.len;
    for (;;) {
        /* Hash the word at p 8 bytes at a time while looking for its "\n" in the same
         * bytes (little-endian: the lowest flagged byte is the first newline). */
        const char *start = p;
        uint64_t h = HASH_SEED, x;
        for (;;) {
            if (end - p >= 8 && IS_LITTLE_ENDIAN) {
                memcpy(&x, p, 8);
                uint64_t t = x ^ 0x0A0A0A0A0A0A0A0AULL;
                uint64_t newline = (t - 0x0101010101010101ULL) & ~t & 0x8080808080808080ULL;
                if (newline == 0) {
                    h = hash_mix(h, x);
                    p += 8;
                    continue;
                }
                int k = __builtin_ctzll(newline) >> 3;
                if (k > 0) h = hash_mix(h, x & ((1ULL << (8 * k)) - 1));
                p += k;
            } else {
                const char *q = p;
                while (q < end && *q != '\n') q++;
                if (q > p) {
                    x = 0;
                    memcpy(&x, p, (size_t)(q - p));
                    h = hash_mix(h, x);
                }
                p = q;
            }
            break;
        }
        Py_ssize_t n = (Py_ssize_t)(p - start);
        size_t slot = hash_final(h, n) & (n_slots - 1);
        while (slots[slot] != 0) {
            Py_ssize_t i = slots[slot] - 1;
            if (query_sizes[i] == n && memcmp(query_bytes[i], start, (size_t)n) == 0) {
                if (rows[i] < 0) rows[i] = seen; /* the first occurrence */
                break;
            }
            slot = (slot + 1) & (n_slots - 1);
        }
        seen++;
        if (p >= end) break;
        p++; /* the "\n" */
    }
    Py_END_ALLOW_THREADS
    if (seen != count) {
        Py_CLEAR(result);
        PyErr_Format(PyExc_ValueError, "lookup_words: %zd words found, %zd expected", seen, count);
    }
done:
    PyMem_Free(slots);
    PyMem_Free((void *)query_bytes);
    PyMem_Free(query_sizes);
    Py_XDECREF(sequence);
    PyBuffer_Release(&words);
    return result;
}

/*
 * number_tokens(text, texts) -> (ids, starts, spans, df): the tokens of standardised
 * texts, numbered in order of first appearance, and each distinct token's document
 * frequency (the number of texts it appears in).
 * text holds `texts` texts separated by "\0", their tokens separated by runs of ASCII
 * whitespace (" \t\n\r\v\f", tf.strings.split's). Returns int64 bytes: ids (one per
 * token, in order), starts (texts + 1: where each text's ids begin), spans (start and
 * end offset in text of each distinct token) and df (per distinct token). One pass, GIL released: the Python way (a
 * str per token and a dict) costs about a microsecond a token.
 */
typedef struct { int64_t *data; size_t size, capacity; } int64_array;

static int push(int64_array *a, int64_t value) {
    if (a->size == a->capacity) {
        size_t capacity = a->capacity ? a->capacity * 2 : 1024;
        int64_t *grown = PyMem_RawRealloc(a->data, capacity * sizeof(int64_t));
        if (grown == NULL) return -1;
        a->data = grown;
        a->capacity = capacity;
    }
    a->data[a->size++] = value;
    return 0;
}

static inline int is_token_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A slot of number_tokens' table: everything a probe needs in one place (one cache
 * miss a token): the token's first 8 bytes, its length, id + 1 (0 = empty), and the
 * text it was last seen in with the number of texts it appeared in. */
typedef struct {
    uint64_t prefix;
    uint32_t id1, length;
    int32_t last_text, df;
} token_slot;

static inline uint64_t token_prefix(const char *p, Py_ssize_t n) {
    uint64_t x = 0;
    memcpy(&x, p, (size_t)(n < 8 ? n : 8));
    return x;
}

static PyObject *number_tokens(PyObject *self, PyObject *args) {
    Py_buffer text;
    Py_ssize_t texts;
    if (!PyArg_ParseTuple(args, "y*n", &text, &texts)) return NULL;
    int64_array ids = {0}, starts = {0}, spans = {0}, hashes = {0};
    size_t n_slots = 1 << 16;
    token_slot *slots = PyMem_RawCalloc(n_slots, sizeof(token_slot));
    int failed = slots == NULL || texts >= INT32_MAX || text.len >= UINT32_MAX;
    int32_t found_texts = 1;
    Py_BEGIN_ALLOW_THREADS
    const char *base = (const char *)text.buf, *p = base, *end = base + text.len;
    failed = failed || push(&starts, 0) < 0;
    while (!failed && p < end) {
        char c = *p;
        if (c == '\0') {
            failed = push(&starts, (int64_t)ids.size) < 0;
            found_texts++;
            p++;
            continue;
        }
        if (is_token_space(c)) {
            p++;
            continue;
        }
        const char *start = p;
        while (p < end && *p != '\0' && !is_token_space(*p)) p++;
        Py_ssize_t n = (Py_ssize_t)(p - start);
        uint64_t h = hash_bytes(start, n), prefix = token_prefix(start, n);
        size_t slot = h & (n_slots - 1);
        token_slot *found = NULL;
        while (slots[slot].id1 != 0) {
            token_slot *t = &slots[slot];
            if (t->prefix == prefix && t->length == (uint32_t)n &&
                (n <= 8 || memcmp(base + spans.data[2 * (t->id1 - 1)] + 8, start + 8, (size_t)(n - 8)) == 0)) {
                found = t;
                break;
            }
            slot = (slot + 1) & (n_slots - 1);
        }
        if (found == NULL) {
            int64_t id = (int64_t)hashes.size;
            if (id >= (int64_t)UINT32_MAX - 1 || push(&hashes, (int64_t)h) < 0 ||
                push(&spans, (int64_t)(start - base)) < 0 || push(&spans, (int64_t)(p - base)) < 0) {
                failed = 1;
                break;
            }
            found = &slots[slot];
            found->prefix = prefix;
            found->id1 = (uint32_t)(id + 1);
            found->length = (uint32_t)n;
            found->last_text = 0;
            found->df = 0;
            if (hashes.size * 2 > n_slots) { /* grow: move every slot to its place in a table twice as large */
                size_t grown_slots = n_slots * 2;
                token_slot *grown = PyMem_RawCalloc(grown_slots, sizeof(token_slot));
                if (grown == NULL) {
                    failed = 1;
                    break;
                }
                token_slot moved = *found;
                for (size_t i = 0; i < n_slots; i++) {
                    if (slots[i].id1 == 0) continue;
                    size_t s = (uint64_t)hashes.data[slots[i].id1 - 1] & (grown_slots - 1);
                    while (grown[s].id1 != 0) s = (s + 1) & (grown_slots - 1);
                    grown[s] = slots[i];
                    if (slots[i].id1 == moved.id1) found = &grown[s];
                }
                PyMem_RawFree(slots);
                slots = grown;
                n_slots = grown_slots;
            }
        }
        if (found->last_text != found_texts) { /* the first time in this text */
            found->last_text = found_texts;
            found->df++;
        }
        failed = push(&ids, (int64_t)found->id1 - 1) < 0;
    }
    if (!failed) failed = push(&starts, (int64_t)ids.size) < 0;
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    int64_array df = {0};
    for (size_t i = 0; !failed && i < hashes.size; i++) failed = push(&df, 0) < 0;
    for (size_t i = 0; !failed && i < n_slots; i++) {
        if (slots[i].id1 != 0) df.data[slots[i].id1 - 1] = slots[i].df;
    }
    if (failed) {
        PyErr_NoMemory();
    } else if (found_texts != texts) {
        PyErr_Format(PyExc_ValueError, "number_tokens: %d texts found, %zd expected", (int)found_texts, texts);
    } else {
        /* (a NULL pointer would build None, not b"": a text without a token has no arrays) */
        result = Py_BuildValue("(y#y#y#y#)", ids.data ? (const char *)ids.data : "",
                               (Py_ssize_t)(ids.size * sizeof(int64_t)),
                               starts.data ? (const char *)starts.data : "", (Py_ssize_t)(starts.size * sizeof(int64_t)),
                               spans.data ? (const char *)spans.data : "", (Py_ssize_t)(spans.size * sizeof(int64_t)),
                               df.data ? (const char *)df.data : "", (Py_ssize_t)(df.size * sizeof(int64_t)));
    }
    PyMem_RawFree(ids.data);
    PyMem_RawFree(starts.data);
    PyMem_RawFree(spans.data);
    PyMem_RawFree(hashes.data);
    PyMem_RawFree(df.data);
    PyMem_RawFree(slots);
    PyBuffer_Release(&text);
    return result;
}

/*
 * pool_rows(vectors, dim, rows, starts, weights, mode) -> bytes of float32 (texts x dim)
 * vectors: float32 rows (n x dim); rows: int64, the vectors' row of each token, -1 for
 * a token to skip; starts: int64 (texts + 1), where each text's tokens begin; weights:
 * float32 per token, or None for 1. mode 0: the weighted sum (accumulated in double);
 * 1: the element-wise max; 2: the min. A text without a row to pool stays zeros. The
 * GIL is released: one pass over the tokens instead of gathering a copy of every row.
 */
static PyObject *pool_rows(PyObject *self, PyObject *args) {
    Py_buffer vectors, rows, starts, weights = {0};
    Py_ssize_t dim;
    int mode;
    PyObject *weights_object;
    if (!PyArg_ParseTuple(args, "y*ny*y*Oi", &vectors, &dim, &rows, &starts, &weights_object, &mode)) return NULL;
    PyObject *result = NULL;
    double *sums = NULL;
    int have_weights = weights_object != Py_None;
    if (have_weights && PyObject_GetBuffer(weights_object, &weights, PyBUF_SIMPLE) < 0) goto done;
    Py_ssize_t n_vectors = dim > 0 ? vectors.len / (Py_ssize_t)sizeof(float) / dim : 0;
    Py_ssize_t n_tokens = rows.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t texts = starts.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (dim <= 0 || texts < 0 || mode < 0 || mode > 2 ||
        (have_weights && weights.len != n_tokens * (Py_ssize_t)sizeof(float))) {
        PyErr_SetString(PyExc_ValueError, "pool_rows: inconsistent arguments");
        goto done;
    }
    const int64_t *row = (const int64_t *)rows.buf, *start = (const int64_t *)starts.buf;
    for (Py_ssize_t t = 0; t <= texts; t++) {
        if (start[t] < 0 || start[t] > n_tokens || (t > 0 && start[t] < start[t - 1])) {
            PyErr_SetString(PyExc_ValueError, "pool_rows: starts out of order or range");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n_tokens; i++) {
        if (row[i] >= n_vectors) {
            PyErr_SetString(PyExc_ValueError, "pool_rows: a row beyond the vectors");
            goto done;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, texts * dim * (Py_ssize_t)sizeof(float));
    sums = PyMem_RawMalloc(sizeof(double) * (size_t)dim);
    if (result == NULL || sums == NULL) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    float *out = (float *)PyBytes_AS_STRING(result);
    const float *v = (const float *)vectors.buf;
    const float *w = have_weights ? (const float *)weights.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < texts; t++) {
        float *o = out + t * dim;
        int any = 0;
        if (mode == 0) {
            for (Py_ssize_t d = 0; d < dim; d++) sums[d] = 0.0;
        }
        for (int64_t i = start[t]; i < start[t + 1]; i++) {
            if (row[i] < 0) continue;
            const float *x = v + row[i] * dim;
            if (mode == 0) {
                double weight = w ? (double)w[i] : 1.0;
                for (Py_ssize_t d = 0; d < dim; d++) sums[d] += weight * (double)x[d];
            } else if (!any) {
                memcpy(o, x, sizeof(float) * (size_t)dim);
            } else if (mode == 1) {
                for (Py_ssize_t d = 0; d < dim; d++) o[d] = x[d] > o[d] ? x[d] : o[d];
            } else {
                for (Py_ssize_t d = 0; d < dim; d++) o[d] = x[d] < o[d] ? x[d] : o[d];
            }
            any = 1;
        }
        if (mode == 0) {
            for (Py_ssize_t d = 0; d < dim; d++) o[d] = (float)sums[d];
        } else if (!any) {
            memset(o, 0, sizeof(float) * (size_t)dim);
        }
    }
    Py_END_ALLOW_THREADS
done:
    PyMem_RawFree(sums);
    PyBuffer_Release(&vectors);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&starts);
    if (have_weights && weights.obj != NULL) PyBuffer_Release(&weights);
    return result;
}

/*
 * cosine_top(rows, dim, queries, k) -> (bytes of int64 ids, bytes of float32 scores)
 * rows: float32 (n x dim), as stored (not unit length); queries: float32 (q x dim), unit
 * length. For each query, the k rows of highest cosine, dot(row, query) / |row| (0 for
 * a zero row), best first, ties to the lower row; -1 and -inf past n. One pass over the
 * rows for all the queries (memory-bound: the dot and the row's norm share the read),
 * a bounded min-heap of k per query, the GIL released. For a few queries; a batch goes
 * through BLAS instead.
 */
typedef struct { float score; int64_t id; } Hit;

static int hit_worse(Hit a, Hit b) {  /* a ranks below b: lower score, or equal and a higher row */
    return a.score < b.score || (a.score == b.score && a.id > b.id);
}

static void heap_sift_down(Hit *heap, Py_ssize_t size, Py_ssize_t i) {
    for (;;) {
        Py_ssize_t low = i, left = 2 * i + 1, right = left + 1;
        if (left < size && hit_worse(heap[left], heap[low])) low = left;
        if (right < size && hit_worse(heap[right], heap[low])) low = right;
        if (low == i) return;
        Hit t = heap[i]; heap[i] = heap[low]; heap[low] = t;
        i = low;
    }
}

static void heap_push(Hit *heap, Py_ssize_t *size, Py_ssize_t cap, Hit hit) {
    if (*size < cap) {
        Py_ssize_t i = (*size)++;
        heap[i] = hit;
        while (i > 0) {
            Py_ssize_t parent = (i - 1) / 2;
            if (!hit_worse(heap[i], heap[parent])) break;
            Hit t = heap[i]; heap[i] = heap[parent]; heap[parent] = t;
            i = parent;
        }
    } else if (hit_worse(heap[0], hit)) {
        heap[0] = hit;
        heap_sift_down(heap, *size, 0);
    }
}

static int hit_better_first(const void *a, const void *b) {
    Hit x = *(const Hit *)a, y = *(const Hit *)b;
    return hit_worse(y, x) ? -1 : (hit_worse(x, y) ? 1 : 0);
}

static PyObject *cosine_top(PyObject *self, PyObject *args) {
    Py_buffer rows, queries;
    Py_ssize_t dim, k;
    if (!PyArg_ParseTuple(args, "y*ny*n", &rows, &dim, &queries, &k)) return NULL;
    PyObject *ids_bytes = NULL, *scores_bytes = NULL, *result = NULL;
    Hit *heaps = NULL;
    Py_ssize_t *sizes = NULL;
    if (dim <= 0 || k < 1 || rows.len % ((Py_ssize_t)sizeof(float) * dim) ||
        queries.len % ((Py_ssize_t)sizeof(float) * dim)) {
        PyErr_SetString(PyExc_ValueError, "cosine_top: inconsistent arguments");
        goto done;
    }
    Py_ssize_t n = rows.len / (Py_ssize_t)sizeof(float) / dim;
    Py_ssize_t q = queries.len / (Py_ssize_t)sizeof(float) / dim;
    if (q > 64 || k > 1 << 20) {
        PyErr_SetString(PyExc_ValueError, "cosine_top: at most 64 queries and 2^20 results");
        goto done;
    }
    heaps = PyMem_RawMalloc(sizeof(Hit) * (size_t)(q * k + 1));
    sizes = PyMem_RawCalloc((size_t)q + 1, sizeof(Py_ssize_t));
    ids_bytes = PyBytes_FromStringAndSize(NULL, q * k * (Py_ssize_t)sizeof(int64_t));
    scores_bytes = PyBytes_FromStringAndSize(NULL, q * k * (Py_ssize_t)sizeof(float));
    if (heaps == NULL || sizes == NULL || ids_bytes == NULL || scores_bytes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const float *r = (const float *)rows.buf, *qs = (const float *)queries.buf;
    int64_t *out_ids = (int64_t *)PyBytes_AS_STRING(ids_bytes);
    float *out_scores = (float *)PyBytes_AS_STRING(scores_bytes);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const float *x = r + i * dim;
        float nn[8] = {0};
        Py_ssize_t j = 0;
        for (; j + 8 <= dim; j += 8)
            for (int l = 0; l < 8; l++) nn[l] += x[j + l] * x[j + l];
        float norm2f = 0;
        for (int l = 0; l < 8; l++) norm2f += nn[l];
        for (; j < dim; j++) norm2f += x[j] * x[j];
        /* (a float32 square overflows from about 1e19 and underflows below 1e-23, and a
           store holds any finite float32: such a row is measured again in double) */
        int wide = !(norm2f < 3e38f) || norm2f < 1e-36f;
        double norm2 = norm2f;
        if (wide) {
            norm2 = 0;
            for (j = 0; j < dim; j++) norm2 += (double)x[j] * x[j];
        }
        double inverse = norm2 > 0 ? 1.0 / sqrt(norm2) : 0.0;
        for (Py_ssize_t t = 0; t < q; t++) {
            const float *y = qs + t * dim;
            double dot;
            if (wide) {
                dot = 0;
                for (j = 0; j < dim; j++) dot += (double)x[j] * y[j];
            } else {
                float dots[8] = {0};
                j = 0;
                for (; j + 8 <= dim; j += 8)
                    for (int l = 0; l < 8; l++) dots[l] += x[j + l] * y[j + l];
                float dotf = 0;
                for (int l = 0; l < 8; l++) dotf += dots[l];
                for (; j < dim; j++) dotf += x[j] * y[j];
                dot = dotf;
            }
            Hit hit = {(float)(dot * inverse), (int64_t)i};
            heap_push(heaps + t * k, &sizes[t], k, hit);
        }
    }
    for (Py_ssize_t t = 0; t < q; t++) {
        Hit *heap = heaps + t * k;
        qsort(heap, (size_t)sizes[t], sizeof(Hit), hit_better_first);
        for (Py_ssize_t i = 0; i < k; i++) {
            out_ids[t * k + i] = i < sizes[t] ? heap[i].id : -1;
            out_scores[t * k + i] = i < sizes[t] ? heap[i].score : -INFINITY;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(OO)", ids_bytes, scores_bytes);
done:
    Py_XDECREF(ids_bytes);
    Py_XDECREF(scores_bytes);
    PyMem_RawFree(heaps);
    PyMem_RawFree(sizes);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&queries);
    return result;
}

/*
 * Rows of a mapped table of float32 rows (n x dim), picked by int64 ids.
 * unit_of_rows(table, dim, ids) -> bytes of float32 (len(ids) x dim): each row divided
 * by its norm (zero rows stay zero). cosines_of_rows(table, dim, ids, queries) -> bytes
 * of float32 (len(ids)): each row's cosine with its unit query (queries: one row a id, or
 * one for all). Norms and dots are summed in float32, a row whose square overflows or
 * underflows in double; ids out of range are an error. What a single query and a batch
 * both use, so both give the same bits.
 */
static int picked_rows(Py_buffer *table, Py_ssize_t dim, Py_buffer *ids, Py_ssize_t *n, Py_ssize_t *m) {
    if (dim <= 0 || table->len % ((Py_ssize_t)sizeof(float) * dim) || ids->len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "inconsistent rows, dim or ids");
        return -1;
    }
    *n = table->len / (Py_ssize_t)sizeof(float) / dim;
    *m = ids->len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *id = (const int64_t *)ids->buf;
    for (Py_ssize_t i = 0; i < *m; i++) {
        if (id[i] < 0 || id[i] >= *n) {
            PyErr_SetString(PyExc_ValueError, "a row id out of range");
            return -1;
        }
    }
    return 0;
}

static double row_norm(const float *x, Py_ssize_t dim) {
    float nn[8] = {0};
    Py_ssize_t j = 0;
    for (; j + 8 <= dim; j += 8)
        for (int l = 0; l < 8; l++) nn[l] += x[j + l] * x[j + l];
    float sumf = 0;
    for (int l = 0; l < 8; l++) sumf += nn[l];
    for (; j < dim; j++) sumf += x[j] * x[j];
    if (sumf < 3e38f && sumf >= 1e-36f) return sqrt((double)sumf);
    double sum = 0;  /* (overflowed, underflowed, or zero: again in double) */
    for (j = 0; j < dim; j++) sum += (double)x[j] * x[j];
    return sqrt(sum);
}

static float cosine_of(const float *x, const float *y, Py_ssize_t dim) {  /* (y: unit length) */
    double norm = row_norm(x, dim), dot = 0;
    for (Py_ssize_t j = 0; j < dim; j++) dot += (double)x[j] * y[j];
    return norm > 0 ? (float)(dot / norm) : 0.0f;
}

static PyObject *unit_of_rows(PyObject *self, PyObject *args) {
    Py_buffer table, ids;
    Py_ssize_t dim, n, m;
    if (!PyArg_ParseTuple(args, "y*ny*", &table, &dim, &ids)) return NULL;
    PyObject *result = NULL;
    if (picked_rows(&table, dim, &ids, &n, &m) < 0) goto done;
    result = PyBytes_FromStringAndSize(NULL, m * dim * (Py_ssize_t)sizeof(float));
    if (result == NULL) goto done;
    float *out = (float *)PyBytes_AS_STRING(result);
    const float *rows = (const float *)table.buf;
    const int64_t *id = (const int64_t *)ids.buf;
    for (Py_ssize_t i = 0; i < m; i++) {
        const float *x = rows + id[i] * dim;
        double norm = row_norm(x, dim);
        for (Py_ssize_t j = 0; j < dim; j++) out[i * dim + j] = norm > 0 ? (float)(x[j] / norm) : 0.0f;
    }
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&ids);
    return result;
}

static PyObject *cosines_of_rows(PyObject *self, PyObject *args) {
    Py_buffer table, ids, queries;
    Py_ssize_t dim, n, m;
    if (!PyArg_ParseTuple(args, "y*ny*y*", &table, &dim, &ids, &queries)) return NULL;
    PyObject *result = NULL;
    if (picked_rows(&table, dim, &ids, &n, &m) < 0) goto done;
    Py_ssize_t nq = queries.len / (Py_ssize_t)sizeof(float) / dim;
    if (queries.len % ((Py_ssize_t)sizeof(float) * dim) || (nq != m && nq != 1)) {
        PyErr_SetString(PyExc_ValueError, "cosines_of_rows: one query for all, or one a row");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(float));
    if (result == NULL) goto done;
    float *out = (float *)PyBytes_AS_STRING(result);
    const float *rows = (const float *)table.buf, *qs = (const float *)queries.buf;
    const int64_t *id = (const int64_t *)ids.buf;
    for (Py_ssize_t i = 0; i < m; i++) out[i] = cosine_of(rows + id[i] * dim, qs + (nq == 1 ? 0 : i) * dim, dim);
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&queries);
    return result;
}

/*
 * rescore_hits(table, dim, ids, scores, query, exclude, k, tolerance) -> (rows, scores) or None
 * One query's hits from an index (ids int64, -1 for none; scores float32 beside them)
 * re-scored from the table's rows as cosines_of_rows scores them (the same bits): the
 * ids other than -1 and ``exclude``, their exact cosines, the best k first (ties to the
 * lower row), as two lists of Python ints and floats. None when tolerance >= 0 and an
 * exact score differs from the index's by more (the index is wrong). A warm query's
 * whole re-scoring in one call; the caller has verified the rows' blocks.
 */
static PyObject *rescore_hits(PyObject *self, PyObject *args) {
    Py_buffer table, ids, scores, query;
    Py_ssize_t dim, k, n, m;
    long long exclude;
    double tolerance;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*Lnd", &table, &dim, &ids, &scores, &query, &exclude, &k, &tolerance))
        return NULL;
    PyObject *result = NULL, *rows_out = NULL, *scores_out = NULL;
    Hit *hits = NULL;
    if (dim <= 0 || k < 0 || table.len % ((Py_ssize_t)sizeof(float) * dim) || ids.len % (Py_ssize_t)sizeof(int64_t) ||
        scores.len != ids.len / 2 || query.len != dim * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "rescore_hits: inconsistent arguments");
        goto done;
    }
    n = table.len / (Py_ssize_t)sizeof(float) / dim;
    m = ids.len / (Py_ssize_t)sizeof(int64_t);
    hits = PyMem_RawMalloc(sizeof(Hit) * (size_t)(m + 1));
    if (hits == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *id = (const int64_t *)ids.buf;
    const float *given = (const float *)scores.buf, *rows = (const float *)table.buf, *y = (const float *)query.buf;
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (id[i] < 0 || id[i] == exclude) continue;
        if (id[i] >= n) {
            PyErr_SetString(PyExc_ValueError, "a row id out of range");
            goto done;
        }
        float exact = cosine_of(rows + id[i] * dim, y, dim);
        if (tolerance >= 0 && !(fabs((double)exact - (double)given[i]) <= tolerance)) {
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        hits[kept].score = exact;
        hits[kept++].id = id[i];
    }
    qsort(hits, (size_t)kept, sizeof(Hit), hit_better_first);
    if (kept > k) kept = k;
    rows_out = PyList_New(kept);
    scores_out = PyList_New(kept);
    if (rows_out == NULL || scores_out == NULL) goto done;
    for (Py_ssize_t i = 0; i < kept; i++) {
        PyObject *row = PyLong_FromLongLong(hits[i].id), *score = PyFloat_FromDouble((double)hits[i].score);
        if (row == NULL || score == NULL) {
            Py_XDECREF(row);
            Py_XDECREF(score);
            goto done;
        }
        PyList_SET_ITEM(rows_out, i, row);
        PyList_SET_ITEM(scores_out, i, score);
    }
    result = PyTuple_Pack(2, rows_out, scores_out);
done:
    Py_XDECREF(rows_out);
    Py_XDECREF(scores_out);
    PyMem_RawFree(hits);
    PyBuffer_Release(&table);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&scores);
    PyBuffer_Release(&query);
    return result;
}

/* The distinct n-gram buckets of <word> (fastText's cut and hash), sorted, into out
   (room for cap); their number, or -1 past cap. */
static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static Py_ssize_t word_buckets_raw(const char *p, Py_ssize_t n, Py_ssize_t minn, Py_ssize_t maxn, uint32_t buckets,
                                   uint32_t *out, Py_ssize_t cap);

static void sort_distinct(uint32_t *out, Py_ssize_t *found) {
    Py_ssize_t n = *found;
    if (n <= 32) {  /* (a word's handful: an insertion sort beats qsort's calls) */
        for (Py_ssize_t i = 1; i < n; i++) {
            uint32_t v = out[i];
            Py_ssize_t k = i;
            while (k > 0 && out[k - 1] > v) { out[k] = out[k - 1]; k--; }
            out[k] = v;
        }
    } else {
        qsort(out, (size_t)n, sizeof(uint32_t), cmp_u32);
    }
    Py_ssize_t distinct = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (distinct == 0 || out[distinct - 1] != out[i]) out[distinct++] = out[i];
    *found = distinct;
}

static Py_ssize_t word_buckets(const char *p, Py_ssize_t n, Py_ssize_t minn, Py_ssize_t maxn, uint32_t buckets,
                               uint32_t *out, Py_ssize_t cap) {
    Py_ssize_t found = word_buckets_raw(p, n, minn, maxn, buckets, out, cap);
    if (found > 0) sort_distinct(out, &found);
    return found;
}

/* The n-gram buckets of <word> in fastText's order, repeats kept; their number, or -1. */
static Py_ssize_t word_buckets_raw(const char *p, Py_ssize_t n, Py_ssize_t minn, Py_ssize_t maxn, uint32_t buckets,
                                   uint32_t *out, Py_ssize_t cap) {
    char word[1024 + 2];
    if (n + 2 > (Py_ssize_t)sizeof(word)) return -1;
    word[0] = '<';
    memcpy(word + 1, p, (size_t)n);
    word[n + 1] = '>';
    Py_ssize_t size = n + 2, found = 0;
    for (Py_ssize_t a = 0; a < size; a++) {
        if ((word[a] & 0xC0) == 0x80) continue;
        uint32_t h = 2166136261u;
        Py_ssize_t j = a, chars = 1;
        while (j < size && chars <= maxn) {
            h = (h ^ (uint32_t)(int8_t)word[j]) * 16777619u;
            j++;
            while (j < size && (word[j] & 0xC0) == 0x80) {
                h = (h ^ (uint32_t)(int8_t)word[j]) * 16777619u;
                j++;
            }
            if (chars >= minn && !(chars == 1 && (a == 0 || j == size))) {
                if (found >= cap) return -1;
                out[found++] = (buckets & (buckets - 1)) == 0 ? (h & (buckets - 1)) : h % buckets;
            }
            chars++;
        }
    }
    return found;
}

/*
 * lookalikes(words, count, asked, n_asked, minn, maxn, buckets, m, skip) -> (rows, scores)
 * For each asked word (``asked``: \n-joined), the m known words (``words``: the set's,
 * \n-joined, ``count`` of them; ``skip``: bytes, 1 for rows to leave out, or empty) whose
 * character n-gram buckets are most alike: the distinct buckets both have, over the asked
 * word's distinct buckets plus the known word's n-gram count less those shared, best first,
 * ties to the lower row: int64 rows (-1 past the last found) and float32 scores. One pass
 * over the known words through an inverted list of the asked words' buckets. GIL released.
 */
#define MAX_GRAMS 4096

typedef struct {
    const unsigned char *skipped;
    Py_ssize_t skip_len;
    const uint64_t *present;
    const int32_t *first, *list, *sizes;
    Py_ssize_t minn, maxn;
    uint32_t buckets;
    Py_ssize_t m, n_asked;
} LookalikeShared;

typedef struct {
    const char *start, *end;  /* the \n-joined words of rows_from .. rows_to */
    Py_ssize_t rows_from, rows_to;
    int32_t *mark, *overlap, *touched;
    uint32_t *grams;
    Hit *heaps;
    Py_ssize_t *heap_sizes;
    int owned;
} LookalikePass;

static int lookalike_buffers(LookalikePass *t, Py_ssize_t n_asked, Py_ssize_t m) {
    t->mark = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(n_asked + 1));
    t->overlap = PyMem_RawCalloc((size_t)n_asked + 1, sizeof(int32_t));
    t->touched = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(n_asked + 1));
    t->grams = PyMem_RawMalloc(sizeof(uint32_t) * MAX_GRAMS);
    t->heaps = PyMem_RawMalloc(sizeof(Hit) * (size_t)(n_asked * m + 1));
    t->heap_sizes = PyMem_RawCalloc((size_t)n_asked + 1, sizeof(Py_ssize_t));
    t->owned = 1;
    return (t->mark && t->overlap && t->touched && t->grams && t->heaps && t->heap_sizes) ? 0 : -1;
}

static void lookalike_free(LookalikePass *t) {
    if (!t->owned) return;
    PyMem_RawFree(t->mark);
    PyMem_RawFree(t->overlap);
    PyMem_RawFree(t->touched);
    PyMem_RawFree(t->grams);
    PyMem_RawFree(t->heaps);
    PyMem_RawFree(t->heap_sizes);
    t->heaps = NULL;
}

static void lookalike_pass(const LookalikeShared *sh, LookalikePass *t) {
    for (Py_ssize_t u = 0; u < sh->n_asked; u++) t->mark[u] = -1;
    const char *p = t->start, *end = t->end;
    uint32_t *grams = t->grams;
    for (Py_ssize_t row = t->rows_from; row < t->rows_to && p < end + 1; row++) {
        const char *stop = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (stop == NULL) stop = end;
        Py_ssize_t n = (sh->skip_len && sh->skipped[row]) ? -1 :
            word_buckets_raw(p, stop - p, sh->minn, sh->maxn, sh->buckets, grams, MAX_GRAMS);
        p = stop + 1;
        if (n <= 0) continue;
        /* Only the n-grams some asked word has (a bitmap of 128 KiB that stays in cache),
           each once; the word's size is its n-gram count, repeats included. */
        Py_ssize_t hits = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            if ((sh->present[grams[i] >> 6] >> (grams[i] & 63)) & 1) grams[hits++] = grams[i];
        if (hits == 0) continue;
        sort_distinct(grams, &hits);
        Py_ssize_t ntouched = 0;
        for (Py_ssize_t i = 0; i < hits; i++) {
            uint32_t b = grams[i];
            for (int32_t k = sh->first[b]; k < sh->first[b + 1]; k++) {
                int32_t u = sh->list[k];
                if (t->mark[u] != (int32_t)row) {
                    t->mark[u] = (int32_t)row;
                    t->overlap[u] = 0;
                    t->touched[ntouched++] = u;
                }
                t->overlap[u]++;
            }
        }
        for (Py_ssize_t i = 0; i < ntouched; i++) {
            int32_t u = t->touched[i];
            float score = (float)t->overlap[u] / (float)(sh->sizes[u] + n - t->overlap[u]);
            Hit hit = {score, (int64_t)row};
            heap_push(t->heaps + (Py_ssize_t)u * sh->m, &t->heap_sizes[u], sh->m, hit);
        }
    }
}

#ifndef _WIN32
#include <pthread.h>
typedef struct { const LookalikeShared *sh; LookalikePass *t; } LookalikeJob;
static void *lookalike_job(void *arg) {
    LookalikeJob *job = arg;
    lookalike_pass(job->sh, job->t);
    return NULL;
}
#endif

static void run_two(const LookalikeShared *sh, LookalikePass *a, LookalikePass *b) {
#ifndef _WIN32
    pthread_t thread;
    LookalikeJob job = {sh, b};
    if (pthread_create(&thread, NULL, lookalike_job, &job) == 0) {
        lookalike_pass(sh, a);
        pthread_join(thread, NULL);
        return;
    }
#endif
    lookalike_pass(sh, a);
    lookalike_pass(sh, b);
}

static PyObject *lookalikes(PyObject *self, PyObject *args) {
    Py_buffer words, asked, skip;
    Py_ssize_t count, n_asked, minn, maxn, buckets, m;
    if (!PyArg_ParseTuple(args, "y*ny*nnnnny*", &words, &count, &asked, &n_asked, &minn, &maxn, &buckets, &m, &skip))
        return NULL;
    PyObject *rows_bytes = NULL, *scores_bytes = NULL, *result = NULL;
    int32_t *first = NULL, *list = NULL, *mark = NULL, *overlap = NULL, *touched = NULL, *sizes = NULL;
    uint32_t *grams = NULL, *all = NULL;
    uint64_t *present = NULL;
    Hit *heaps = NULL;
    Py_ssize_t *heap_sizes = NULL;
    int failed = 0;
    if (minn < 1 || maxn < minn || maxn > 64 || buckets < 1 || buckets > (1 << 30) || m < 1 || m > 1024 ||
        n_asked < 0 || count < 0 || (skip.len != 0 && skip.len != count)) {
        PyErr_SetString(PyExc_ValueError, "lookalikes: inconsistent arguments");
        goto done;
    }
    {  /* (the asked words are exactly n_asked lines, the known ones at least count) */
        Py_ssize_t lines = n_asked ? 1 : 0, known = words.len || count ? 1 : 0;
        const char *q = (const char *)asked.buf, *qend = q + asked.len;
        while (n_asked && (q = memchr(q, '\n', (size_t)(qend - q))) != NULL) { lines++; q++; }
        q = (const char *)words.buf;
        qend = q + words.len;
        while (q < qend && (q = memchr(q, '\n', (size_t)(qend - q))) != NULL) { known++; q++; }
        if (lines != n_asked || (n_asked == 0 && asked.len) || known < count) {
            PyErr_SetString(PyExc_ValueError, "lookalikes: inconsistent arguments (the lines and their counts)");
            goto done;
        }
    }
    rows_bytes = PyBytes_FromStringAndSize(NULL, n_asked * m * (Py_ssize_t)sizeof(int64_t));
    scores_bytes = PyBytes_FromStringAndSize(NULL, n_asked * m * (Py_ssize_t)sizeof(float));
    first = PyMem_RawCalloc((size_t)buckets + 1, sizeof(int32_t));
    sizes = PyMem_RawCalloc((size_t)n_asked + 1, sizeof(int32_t));
    mark = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(n_asked + 1));
    overlap = PyMem_RawCalloc((size_t)n_asked + 1, sizeof(int32_t));
    touched = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(n_asked + 1));
    grams = PyMem_RawMalloc(sizeof(uint32_t) * MAX_GRAMS);
    heaps = PyMem_RawMalloc(sizeof(Hit) * (size_t)(n_asked * m + 1));
    heap_sizes = PyMem_RawCalloc((size_t)n_asked + 1, sizeof(Py_ssize_t));
    present = PyMem_RawCalloc((size_t)buckets / 64 + 1, sizeof(uint64_t));
    if (!rows_bytes || !scores_bytes || !first || !sizes || !mark || !overlap || !touched || !grams || !heaps ||
        !heap_sizes || !present) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    /* The asked words' buckets, then an inverted list bucket -> asked words (CSR in first/list). */
    Py_ssize_t total = 0;
    const char *p = (const char *)asked.buf, *end = p + asked.len;
    all = PyMem_RawMalloc(sizeof(uint32_t) * (size_t)(n_asked * 64 + 1));
    Py_ssize_t all_cap = n_asked * 64 + 1;
    for (Py_ssize_t u = 0; u < n_asked && !failed; u++) {
        const char *stop = memchr(p, '\n', (size_t)(end - p));
        if (stop == NULL) stop = end;
        Py_ssize_t n = word_buckets(p, stop - p, minn, maxn, (uint32_t)buckets, grams, MAX_GRAMS);
        if (n < 0) n = 0;  /* (a word over 1 KiB: no lookalikes) */
        if (total + n > all_cap) {
            Py_ssize_t cap = (total + n) * 2;
            uint32_t *grown = all ? PyMem_RawRealloc(all, sizeof(uint32_t) * (size_t)cap) : NULL;
            if (grown == NULL) { failed = 1; break; }
            all = grown;
            all_cap = cap;
        }
        if (all == NULL) { failed = 1; break; }
        memcpy(all + total, grams, sizeof(uint32_t) * (size_t)n);
        sizes[u] = (int32_t)n;
        total += n;
        p = stop + 1;
    }
    if (!failed) {
        list = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(total + 1));
        if (list == NULL) failed = 1;
    }
    if (!failed) {
        for (Py_ssize_t i = 0; i < total; i++) {
            first[all[i] + 1]++;
            present[all[i] >> 6] |= (uint64_t)1 << (all[i] & 63);
        }
        for (Py_ssize_t b = 0; b < buckets; b++) first[b + 1] += first[b];
        Py_ssize_t at = 0;
        int32_t *cursor = PyMem_RawMalloc(sizeof(int32_t) * (size_t)buckets);
        if (cursor == NULL) failed = 1;
        else {
            memcpy(cursor, first, sizeof(int32_t) * (size_t)buckets);
            for (Py_ssize_t u = 0; u < n_asked; u++) {
                for (Py_ssize_t i = 0; i < sizes[u]; i++) list[cursor[all[at + i]]++] = (int32_t)u;
                at += sizes[u];
            }
            PyMem_RawFree(cursor);
        }
    }
    if (!failed) {
        /* The known words in two halves, one a thread (both cores), each with its own
           counts and heaps; their heaps merged. */
        const char *middle = (const char *)words.buf, *wend = middle + words.len;
        Py_ssize_t half = count / 2;
        for (Py_ssize_t row = 0; row < half && middle < wend; row++) {
            const char *stop = memchr(middle, '\n', (size_t)(wend - middle));
            middle = stop == NULL ? wend : stop + 1;
        }
        LookalikePass passes[2] = {
            {(const char *)words.buf, middle, 0, half},
            {middle, wend, half, count},
        };
        LookalikeShared shared = {(const unsigned char *)skip.buf, skip.len, present, first, list, sizes,
                                  minn, maxn, (uint32_t)buckets, m, n_asked};
        passes[0].mark = mark;
        passes[0].overlap = overlap;
        passes[0].touched = touched;
        passes[0].grams = grams;
        passes[0].heaps = heaps;
        passes[0].heap_sizes = heap_sizes;
        if (lookalike_buffers(&passes[1], n_asked, m) != 0) {
            failed = 1;
        } else if (count > 1024) {
            run_two(&shared, &passes[0], &passes[1]);
        } else {  /* (a small set: one pass does it) */
            passes[1].rows_from = passes[1].rows_to;
            passes[0].rows_to = count;
            passes[0].end = wend;
            lookalike_pass(&shared, &passes[0]);
        }
        int64_t *out_rows = (int64_t *)PyBytes_AS_STRING(rows_bytes);
        float *out_scores = (float *)PyBytes_AS_STRING(scores_bytes);
        Hit *merged = failed ? NULL : PyMem_RawMalloc(sizeof(Hit) * (size_t)(2 * m + 1));
        if (merged == NULL) failed = 1;
        for (Py_ssize_t u = 0; u < n_asked && !failed; u++) {
            Py_ssize_t n = 0;
            for (int t = 0; t < 2; t++) {
                if (passes[t].heaps == NULL || passes[t].rows_from >= passes[t].rows_to) continue;
                memcpy(merged + n, passes[t].heaps + u * m, sizeof(Hit) * (size_t)passes[t].heap_sizes[u]);
                n += passes[t].heap_sizes[u];
            }
            qsort(merged, (size_t)n, sizeof(Hit), hit_better_first);
            for (Py_ssize_t i = 0; i < m; i++) {
                out_rows[u * m + i] = i < n ? merged[i].id : -1;
                out_scores[u * m + i] = i < n ? merged[i].score : 0.0f;
            }
        }
        PyMem_RawFree(merged);
        lookalike_free(&passes[1]);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(OO)", rows_bytes, scores_bytes);
done:
    Py_XDECREF(rows_bytes);
    Py_XDECREF(scores_bytes);
    PyMem_RawFree(first);
    PyMem_RawFree(list);
    PyMem_RawFree(mark);
    PyMem_RawFree(overlap);
    PyMem_RawFree(touched);
    PyMem_RawFree(sizes);
    PyMem_RawFree(grams);
    PyMem_RawFree(all);
    PyMem_RawFree(heaps);
    PyMem_RawFree(heap_sizes);
    PyMem_RawFree(present);
    PyBuffer_Release(&words);
    PyBuffer_Release(&asked);
    PyBuffer_Release(&skip);
    return result;
}

static PyMethodDef methods[] = {
    {"format_glove", format_glove, METH_VARARGS, "Format rows as GloVe text with round-tripping float32 values."},
    {"parse_lines", parse_lines, METH_VARARGS, "Parse embedding text lines into float32 rows (GIL released)."},
    {"decode_words", decode_words, METH_VARARGS, "Decode the words at (start, end) offsets as UTF-8."},
    {"lookup_words", lookup_words, METH_VARARGS, "Rows of words in a set's \\n-joined vocabulary (-1: absent)."},
    {"number_tokens", number_tokens, METH_VARARGS, "Number the tokens of standardised texts (GIL released)."},
    {"pool_rows", pool_rows, METH_VARARGS, "Sum, max or min the rows of each text's tokens (GIL released)."},
    {"parse_binary", parse_binary, METH_VARARGS, "Parse word2vec binary records into float32 rows (GIL released)."},
    {"unit_of_rows", unit_of_rows, METH_VARARGS, "Some rows of a table, each divided by its norm."},
    {"cosines_of_rows", cosines_of_rows, METH_VARARGS, "The cosine of some rows of a table with unit queries."},
    {"lookalikes", lookalikes, METH_VARARGS, "The known words whose character n-grams are most like each asked word's."},
    {"rescore_hits", rescore_hits, METH_VARARGS, "One query's index hits re-scored from the table's rows, best first."},
    {"cosine_top", cosine_top, METH_VARARGS, "The k rows of highest cosine to each of a few unit queries (GIL released)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastparse", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastparse(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_LINE_BYTES", MAX_LINE_BYTES) < 0) Py_CLEAR(m);
    return m;
}
