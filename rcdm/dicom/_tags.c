/* Find every occurrence of a few 4-byte patterns in a header, in one pass (rcdm.dicom._tags).
 *
 * The ETL's identity scan looks for ~13 four-byte patterns (little- and big-endian tags of PatientName,
 * PatientBirthDate, AccessionNumber, SpecificCharacterSet, Pixel Data, and the marks of nested values) in up to
 * 64 KiB of each header. Python's bytes.find does one pass per pattern (13 passes); this does one: each
 * position's first two bytes are looked up in a 64 Kibit table of the patterns' first two bytes (runs of
 * zeros and most other bytes fail there), and only a hit compares the 4 bytes with the patterns. The twin is
 * rcdm.dicom.identity._find_all_py; tests/test_dicom_identity.py holds the two equal on random bytes.
 *
 * scan() is the ETL's identity scan itself (rcdm.dicom.identity.window_facts): the same tags plus the six stored
 * text tags, 32 or 16 offsets a step (AVX2 or SSE2), and the values of the identity elements read here rather than
 * in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define MAX_PATTERNS 24

/* find_all(buf, patterns, stops) -> (cut, offsets)
 *
 * patterns: a tuple of 4-byte bytes objects; the first ``stops`` of them end the scan: ``cut`` is the offset of
 * the first occurrence of any of them (-1 if none), and only occurrences that end at or before ``cut`` count
 * (as if the others were searched in buf[:cut]). offsets: a tuple with one list per pattern after the stops,
 * the ascending offsets of its occurrences (overlapping ones too, as repeated bytes.find(p, i + 1) gives them).
 */
static PyObject *find_all(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer view;
    PyObject *patterns;
    Py_ssize_t stops;
    if (!PyArg_ParseTuple(args, "y*O!n", &view, &PyTuple_Type, &patterns, &stops))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(patterns);
    if (n > MAX_PATTERNS || stops < 0 || stops > n) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "find_all: at most 24 patterns, 0 <= stops <= len(patterns)");
        return NULL;
    }
    uint32_t keys[MAX_PATTERNS];
    unsigned char first[8192]; /* bit (b0 | b1 << 8): some pattern starts with the bytes b0 b1 */
    memset(first, 0, sizeof first);
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *p = PyTuple_GET_ITEM(patterns, k);
        if (!PyBytes_Check(p) || PyBytes_GET_SIZE(p) != 4) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "find_all: each pattern is 4 bytes");
            return NULL;
        }
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(p);
        keys[k] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        unsigned pair = b[0] | b[1] << 8;
        first[pair >> 3] |= (unsigned char)(1u << (pair & 7));
    }
    PyObject *lists = PyTuple_New(n - stops);
    if (lists == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n - stops; k++) {
        PyObject *list = PyList_New(0);
        if (list == NULL)
            goto fail;
        PyTuple_SET_ITEM(lists, k, list);
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t len = view.len, cut = -1;
    for (Py_ssize_t i = 0; i + 4 <= len; i++) {
        unsigned pair = buf[i] | buf[i + 1] << 8;
        if (!(first[pair >> 3] & (1u << (pair & 7))))
            continue;
        uint32_t v = (uint32_t)pair | (uint32_t)buf[i + 2] << 16 | (uint32_t)buf[i + 3] << 24;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (keys[k] != v)
                continue;
            if (k < stops) {
                cut = i;
                goto done;
            }
            PyObject *at = PyLong_FromSsize_t(i);
            if (at == NULL || PyList_Append(PyTuple_GET_ITEM(lists, k - stops), at) < 0) {
                Py_XDECREF(at);
                goto fail;
            }
            Py_DECREF(at);
            break; /* a repeated pattern: its first index */
        }
    }
done:
    if (cut >= 0) { /* drop occurrences that run into the stop pattern (not inside buf[:cut]) */
        for (Py_ssize_t k = 0; k < n - stops; k++) {
            PyObject *list = PyTuple_GET_ITEM(lists, k);
            Py_ssize_t m = PyList_GET_SIZE(list);
            while (m > 0 && PyLong_AsSsize_t(PyList_GET_ITEM(list, m - 1)) + 4 > cut)
                m--;
            if (m < PyList_GET_SIZE(list) && PyList_SetSlice(list, m, PyList_GET_SIZE(list), NULL) < 0)
                goto fail;
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nN)", cut, lists);
fail:
    PyBuffer_Release(&view);
    Py_DECREF(lists);
    return NULL;
}

/* scan(buf) -> (cut, charsets, names, birth_dates, accessions, non_text)
 *
 * The identity scan of a header window in one call (rcdm.dicom.identity.window_facts; its pure-Python twin is
 * rcdm.dicom.identity._scan_py, held equal on random bytes and on the bundled files by the tests). ``cut``: the
 * offset of the first Pixel Data tag (either byte order; -1 if none); the rest looks at buf[:cut] only. The
 * four tuples hold the raw values (bytes) of every occurrence of SpecificCharacterSet, PatientName,
 * PatientBirthDate and AccessionNumber (little-endian occurrences first, then big-endian ones, each ascending;
 * explicit VR, or implicit VR for little endian; lengths 1..1024 that fit), as _element_values reads them;
 * ``non_text``: how many of the six stored text tags (little endian) are followed by a nested-value mark
 * (SQ, UN, or an undefined length). Every offset is looked at, as find_all does, but a vector at a time where the
 * compiler and CPU allow (find_hits below: a 64 KiB Siemens MR header in ~5.6 us with AVX2, ~11 with SSE2, ~19 by
 * the byte-pair table three offsets a step, the way kept for other compilers and CPUs).
 */
enum { K_STOP, K_CHARSET, K_NAME, K_BIRTH, K_ACCESSION, K_TEXT };
#define N_SCAN 16
static const unsigned char scan_patterns[N_SCAN][4] = {
    {0xe0, 0x7f, 0x10, 0x00}, {0x7f, 0xe0, 0x00, 0x10}, /* Pixel Data (7FE0,0010) */
    {0x08, 0x00, 0x05, 0x00}, {0x00, 0x08, 0x00, 0x05}, /* SpecificCharacterSet (0008,0005) */
    {0x10, 0x00, 0x10, 0x00}, {0x00, 0x10, 0x00, 0x10}, /* PatientName (0010,0010) */
    {0x10, 0x00, 0x30, 0x00}, {0x00, 0x10, 0x00, 0x30}, /* PatientBirthDate (0010,0030) */
    {0x08, 0x00, 0x50, 0x00}, {0x00, 0x08, 0x00, 0x50}, /* AccessionNumber (0008,0050) */
    {0x08, 0x00, 0x60, 0x00}, {0x08, 0x00, 0x70, 0x00}, /* Modality, Manufacturer */
    {0x08, 0x00, 0x30, 0x10}, {0x08, 0x00, 0x3e, 0x10}, /* StudyDescription, SeriesDescription */
    {0x18, 0x00, 0x15, 0x00}, {0x18, 0x00, 0x30, 0x10}, /* BodyPartExamined, ProtocolName */
};
static const int scan_kind[N_SCAN] = {K_STOP, K_STOP, K_CHARSET, K_CHARSET, K_NAME, K_NAME, K_BIRTH, K_BIRTH,
                                      K_ACCESSION, K_ACCESSION, K_TEXT, K_TEXT, K_TEXT, K_TEXT, K_TEXT, K_TEXT};
static uint32_t scan_keys[N_SCAN];
static unsigned char at_pair[65536]; /* bit s of pair (b0 | b1 << 8): b0 b1 are bytes s, s + 1 of a pattern */

static void scan_init(void) {
    for (int k = 0; k < N_SCAN; k++) {
        const unsigned char *b = scan_patterns[k];
        scan_keys[k] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        for (int at = 0; at < 3; at++)
            at_pair[b[at] | b[at + 1] << 8] |= (unsigned char)(1u << at);
    }
}

typedef struct {
    Py_ssize_t at;
    int k;
} hit_t;

typedef struct {
    hit_t *hits, *stack;
    Py_ssize_t n, cap;
} hits_t;

/* Compare the 4 bytes at ``i`` (i + 4 <= len) with the patterns: a stop sets *cut and returns 1; another
 * pattern is appended to ``h``; -1 when memory ran out. */
static int look_at(const unsigned char *buf, Py_ssize_t i, hits_t *h, Py_ssize_t *cut) {
    uint32_t v = (uint32_t)buf[i] | (uint32_t)buf[i + 1] << 8 | (uint32_t)buf[i + 2] << 16 |
                 (uint32_t)buf[i + 3] << 24;
    for (int k = 0; k < N_SCAN; k++) {
        if (scan_keys[k] != v)
            continue;
        if (scan_kind[k] == K_STOP) {
            *cut = i;
            return 1;
        }
        if (h->n == h->cap) {
            hit_t *grown = PyMem_Malloc(sizeof(hit_t) * (size_t)h->cap * 2);
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            memcpy(grown, h->hits, sizeof(hit_t) * (size_t)h->cap);
            if (h->hits != h->stack)
                PyMem_Free(h->hits);
            h->hits = grown;
            h->cap *= 2;
        }
        h->hits[h->n].at = i;
        h->hits[h->n++].k = k;
        return 0;
    }
    return 0;
}

#if defined(__SSE2__) && defined(__GNUC__)
/* Every pattern at i is one of: a little-endian tag of group 0008, 0010 or 0018 (bytes b0 in {08, 10, 18},
 * b1 = 00), a big-endian tag of group 0008 or 0010 (b0 = 00, b1 in {08, 10}, b2 = 00), or Pixel Data (e0 7f or
 * 7f e0: a 0x7f at i or i + 1). A block of offsets at a time, the bytes at i, i + 1 and i + 2 are tested for
 * that (a byte v is in {08, 10, 18} when v & e7 = 0 and v != 0); only the offsets that pass (~200 in a 64 KiB
 * Siemens MR header: runs of zeros and text fail) are compared with the patterns. SSE2 (16 offsets a step,
 * every x86-64) or AVX2 (32, where the CPU has it: ~1.6x); the mask of the offsets that pass: */
#define CANDIDATES(V, ZERO, E7, X7F, LOAD, EQ, AND, ANDNOT, OR, MOVEMASK, at)                                   \
    do {                                                                                                     \
        V v0 = LOAD(at), v1 = LOAD(at + 1), v2 = LOAD(at + 2);                                               \
        V z0 = EQ(v0, ZERO), z1 = EQ(v1, ZERO);                                                              \
        V g0 = ANDNOT(z0, EQ(AND(v0, E7), ZERO)), g1 = ANDNOT(z1, EQ(AND(v1, E7), ZERO));                    \
        V groups = OR(AND(g0, z1), AND(AND(z0, g1), EQ(v2, ZERO)));                                          \
        mask = (uint32_t)MOVEMASK(OR(groups, OR(EQ(v0, X7F), EQ(v1, X7F))));                                 \
    } while (0)

/* Compare the offsets of ``mask`` (bit b: offset at + b) with the patterns; as look_at, 0 to go on. */
static int look_at_mask(const unsigned char *buf, Py_ssize_t at, uint32_t mask, hits_t *h, Py_ssize_t *cut) {
    for (; mask; mask &= mask - 1) {
        int rc = look_at(buf, at + __builtin_ctz(mask), h, cut);
        if (rc)
            return rc;
    }
    return 0;
}

#define LOAD128(at) _mm_loadu_si128((const __m128i *)(buf + (at)))
#define LOAD256(at) _mm256_loadu_si256((const __m256i *)(buf + (at)))

/* The offsets from ``i`` on, ``step`` at a time while the loads and compares stay inside ``len``, then one by
 * one; returns the cut (-1: none) or -2 on an error. */
static Py_ssize_t find_hits_sse2(const unsigned char *buf, Py_ssize_t len, hits_t *h, Py_ssize_t i) {
    Py_ssize_t cut = -1;
    const __m128i zero = _mm_setzero_si128(), e7 = _mm_set1_epi8((char)0xe7), x7f = _mm_set1_epi8(0x7f);
    for (; i + 19 <= len; i += 16) { /* the loads reach i + 17, the compares i + 18 */
        uint32_t mask;
        CANDIDATES(__m128i, zero, e7, x7f, LOAD128, _mm_cmpeq_epi8, _mm_and_si128, _mm_andnot_si128, _mm_or_si128,
                   _mm_movemask_epi8, i);
        int rc = look_at_mask(buf, i, mask, h, &cut);
        if (rc)
            return rc < 0 ? -2 : cut;
    }
    for (; i + 4 <= len; i++) {
        int rc = look_at(buf, i, h, &cut);
        if (rc)
            return rc < 0 ? -2 : cut;
    }
    return cut;
}

__attribute__((target("avx2"))) static Py_ssize_t find_hits_avx2(const unsigned char *buf, Py_ssize_t len,
                                                                  hits_t *h) {
    Py_ssize_t cut = -1, i = 0;
    const __m256i zero = _mm256_setzero_si256(), e7 = _mm256_set1_epi8((char)0xe7), x7f = _mm256_set1_epi8(0x7f);
    for (; i + 35 <= len; i += 32) {
        uint32_t mask;
        CANDIDATES(__m256i, zero, e7, x7f, LOAD256, _mm256_cmpeq_epi8, _mm256_and_si256, _mm256_andnot_si256,
                   _mm256_or_si256, _mm256_movemask_epi8, i);
        int rc = look_at_mask(buf, i, mask, h, &cut);
        if (rc)
            return rc < 0 ? -2 : cut;
    }
    return find_hits_sse2(buf, len, h, i);
}

static int has_avx2;

static Py_ssize_t find_hits(const unsigned char *buf, Py_ssize_t len, hits_t *h) {
    return has_avx2 ? find_hits_avx2(buf, len, h) : find_hits_sse2(buf, len, h, 0);
}
#else
/* Every offset is looked at, three at a time: the byte pair at each offset e divisible by 3 is looked up in a
 * table of the pairs that are bytes 0-1, 1-2 or 2-3 of a pattern (a pattern at e, e - 1 or e - 2); most pairs
 * fail there, the rest are compared with the patterns. Returns the cut (-1: none) or -2 on an error. */
static Py_ssize_t find_hits(const unsigned char *buf, Py_ssize_t len, hits_t *h) {
    Py_ssize_t cut = -1;
    for (Py_ssize_t e = 0; e + 1 < len; e += 3) {
        unsigned bits = at_pair[buf[e] | buf[e + 1] << 8];
        if (!bits)
            continue;
        for (int at = 2; at >= 0; at--) { /* the patterns at e - 2, e - 1, e: ascending offsets */
            Py_ssize_t i = e - at;
            if (!((bits >> at) & 1) || i < 0 || i + 4 > len)
                continue;
            int rc = look_at(buf, i, h, &cut);
            if (rc)
                return rc < 0 ? -2 : cut;
        }
    }
    return cut;
}
#endif

/* The value of the element whose tag is at ``i`` (as _element_values reads it), appended to ``list``. */
static int append_value(PyObject *list, const unsigned char *buf, Py_ssize_t len, Py_ssize_t i, int big,
                        const char *vr) {
    Py_ssize_t j = i + 4, k = j + 4, n;
    if (k > len)
        return 0;
    if (buf[j] == (unsigned char)vr[0] && buf[j + 1] == (unsigned char)vr[1])
        n = big ? (buf[j + 2] << 8 | buf[j + 3]) : (buf[j + 2] | buf[j + 3] << 8);
    else if (!big)
        n = (Py_ssize_t)((uint32_t)buf[j] | (uint32_t)buf[j + 1] << 8 | (uint32_t)buf[j + 2] << 16 |
                         (uint32_t)buf[j + 3] << 24);
    else
        return 0;
    if (n <= 0 || n > 1024 || k + n > len)
        return 0;
    PyObject *value = PyBytes_FromStringAndSize((const char *)buf + k, n);
    if (value == NULL)
        return -1;
    int rc = PyList_Append(list, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    const unsigned char *buf = (const unsigned char *)view.buf;
    hit_t stack_hits[256];
    hits_t found = {stack_hits, stack_hits, 0, 256};
    PyObject *lists[8] = {NULL}, *result = NULL;
    Py_ssize_t len = view.len, cut = find_hits(buf, len, &found);
    if (cut == -2)
        goto fail;
    Py_ssize_t end = cut >= 0 ? cut : len;
    for (int l = 0; l < 8; l++)
        if ((lists[l] = PyList_New(0)) == NULL)
            goto fail;
    static const char *vrs[4] = {"CS", "PN", "DA", "SH"};
    unsigned text_seen = 0;
    for (Py_ssize_t h = 0; h < found.n; h++) {
        Py_ssize_t i = found.hits[h].at;
        int k = found.hits[h].k, kind = scan_kind[k];
        if (kind == K_TEXT) { /* followed by SQ, UN or an undefined length, inside buf[:cut] */
            const unsigned char *m = buf + i + 4;
            if (i + 8 <= end && ((m[0] == 'S' && m[1] == 'Q' && !m[2] && !m[3]) ||
                                 (m[0] == 'U' && m[1] == 'N' && !m[2] && !m[3]) ||
                                 (m[0] == 0xff && m[1] == 0xff && m[2] == 0xff && m[3] == 0xff)))
                text_seen |= 1u << (k - 10);
            continue;
        }
        if (i + 4 > end)
            continue;
        int big = k & 1; /* odd indexes are the big-endian tags */
        if (append_value(lists[(kind - K_CHARSET) * 2 + big], buf, end, i, big, vrs[kind - K_CHARSET]) < 0)
            goto fail;
    }
    PyObject *tuples[4] = {NULL};
    for (int f = 0; f < 4; f++) {
        if (PyList_SetSlice(lists[2 * f], PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, lists[2 * f + 1]) < 0 ||
            (tuples[f] = PyList_AsTuple(lists[2 * f])) == NULL) {
            for (int g = 0; g < f; g++)
                Py_DECREF(tuples[g]);
            goto fail;
        }
    }
    int non_text = 0;
    for (unsigned bits = text_seen; bits; bits &= bits - 1)
        non_text++;
    result = Py_BuildValue("(nNNNNi)", cut, tuples[0], tuples[1], tuples[2], tuples[3], non_text);
fail:
    for (int l = 0; l < 8; l++)
        Py_XDECREF(lists[l]);
    if (found.hits != found.stack)
        PyMem_Free(found.hits);
    PyBuffer_Release(&view);
    return result;
}

/* pixel_data_at(buf) -> offset of the first Pixel Data tag (7FE0,0010), little- or big-endian, or -1.
 *
 * Both spellings (e0 7f 10 00, 7f e0 00 10) hold the byte 0x7f, rare in headers: memchr (vectorised in libc)
 * finds each 0x7f and only those are compared. bytes.find is ~1 GB/s on these patterns (its skip table does
 * little for a needle ending in 0x00 or 0x10 among binary values); this runs at memchr's speed. */
static Py_ssize_t first_pixel_data(const unsigned char *buf, Py_ssize_t len) {
    const unsigned char *p = buf, *end = buf + len;
    while (p < end && (p = memchr(p, 0x7f, (size_t)(end - p))) != NULL) {
        Py_ssize_t i = p - buf;
        if (i >= 1 && i + 3 <= len && buf[i - 1] == 0xe0 && buf[i + 1] == 0x10 && buf[i + 2] == 0x00)
            return i - 1; /* little endian: e0 [7f] 10 00 */
        if (i + 4 <= len && buf[i + 1] == 0xe0 && buf[i + 2] == 0x00 && buf[i + 3] == 0x10)
            return i; /* big endian: [7f] e0 00 10 */
        p++;
    }
    return -1;
}

static PyObject *pixel_data_at(PyObject *Py_UNUSED(self), PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t at = first_pixel_data((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(at);
}

/* _vector_width(avx2) -> the bytes scan() looks at a step: 32 with AVX2 (when asked and the CPU has it), 16 with
 * SSE2, 3 without (not x86-64 or not GCC/clang). The tests run scan() both ways on x86-64. */
static PyObject *vector_width(PyObject *Py_UNUSED(self), PyObject *arg) {
    int want = PyObject_IsTrue(arg);
    if (want < 0)
        return NULL;
#if defined(__SSE2__) && defined(__GNUC__)
    has_avx2 = want && __builtin_cpu_supports("avx2");
    return PyLong_FromLong(has_avx2 ? 32 : 16);
#else
    return PyLong_FromLong(3);
#endif
}

static PyMethodDef methods[] = {
    {"_vector_width", vector_width, METH_O,
     "_vector_width(avx2) -> bytes a step of scan(): AVX2 used only when asked and the CPU has it (tests)."},
    {"pixel_data_at", pixel_data_at, METH_O,
     "pixel_data_at(buf) -> offset of the first Pixel Data tag (either byte order), or -1."},
    {"find_all", find_all, METH_VARARGS,
     "find_all(buf, patterns, stops) -> (cut, offsets): every occurrence of each 4-byte pattern, in one pass."},
    {"scan", scan, METH_VARARGS,
     "scan(buf) -> (cut, charsets, names, birth_dates, accessions, non_text): the identity scan of a header."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tags", "One-pass search for 4-byte patterns; the identity scan of a header.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__tags(void) {
    scan_init();
#if defined(__SSE2__) && defined(__GNUC__)
    __builtin_cpu_init();
    has_avx2 = __builtin_cpu_supports("avx2");
#endif
    return PyModule_Create(&module);
}
