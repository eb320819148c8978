/* The hot loop of rcdm's DICOM header reader, compiled: walk the top-level elements of a data set in a bytes
 * buffer (explicit VR little endian, implicit VR little endian or explicit VR big endian) and keep the raw
 * values of the wanted ones.
 *
 * It mirrors Walker._walk_top_py in reader.py step for step (that Python loop is the reference and the
 * fallback when this module is not built) and hands everything else back to Python: wanted sequences and
 * anything irregular inside an undefined-length sequence (STEP_GENERAL: Python walks that one element), the
 * end of the buffer (STEP_NEED), and the two things that send the whole file to pydicom: elements out of
 * order (STEP_ORDER), an unknown VR or an item/delimiter tag (group FFFE) at the top level (STEP_UNUSUAL).
 * Unwanted sequences of undefined length are skipped here, item by item to their delimiters (nested ones
 * too, up to MAX_DEPTH; items of a UN sequence as implicit VR little endian, as pydicom reads them). It never
 * reads outside the buffer: every offset is checked against its length before a byte is read, and offsets
 * are 64-bit so that no declared length can wrap them.
 *
 * Scanner(wanted, first, last, implicit=False, little=True, vrs=None, sequences=True).scan(buf, pos, last_tag,
 *                                                                                          out, done, base=0)
 *   -> (step, pos, last_tag, need)
 *   wanted       dict tag (int) -> keyword (str) for plain values, or anything else (a tuple) for
 *                sequences the general walker collects; copied into a sorted array when the scanner is made
 *   first, last  the walk stops (STEP_DONE) at the first tag outside [first, last], before its VR is read
 *   implicit     implicit VR: 8-byte element headers, the VR of a wanted value from ``vrs``
 *   little       byte order of tags and lengths (explicit VR big endian: False)
 *   vrs          dict tag -> VR name (str) from the data dictionary, for implicit VR: it chooses how C
 *                decodes a wanted value; a value it does not decode is stored with VR None, as Python does
 *   sequences    False: an undefined length is handed back (STEP_GENERAL) instead of skipped (the file
 *                meta group, which Python reads without sequences)
 *   buf          bytes of the file from offset ``base`` (0: its start; more after a large value the caller
 *                skipped without reading it); pos, the returned pos and need are file offsets
 *   pos          offset of the first element to read
 *   last_tag     the previous tag (-1 at the start): tags must ascend
 *   out          dict keyword -> (VR name or None for UN and implicit VR, raw value bytes), filled in place;
 *                a wanted sequence: keyword -> list of item dicts, each with the decoded values beside the
 *                raw pairs (in ``done`` instead when no item keeps a raw pair)
 *   done         None, or a dict that takes instead keyword -> decoded value (str or list of str) for
 *                the values decode() can decode (plain ASCII text of the string VRs, as Python would),
 *                and the integers of US/SS/UL/SL values (an int, or a list of them)
 *   base         the file offset of buf[0]
 * Returns the step that stopped the walk, the offset of the element it stopped at (to be read again by
 * whoever goes on), the tag before that element (for STEP_GENERAL: the element's own tag, as the Python
 * loop has it when it hands an element to the general walker) and, for STEP_NEED, the number of bytes from
 * the start of the file it needs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { STEP_DONE = 0, STEP_NEED = 1, STEP_GENERAL = 2, STEP_ORDER = 3, STEP_UNUSUAL = 4, STEP_FRAMES = 5 };

#define VR(a, b) ((uint16_t)((uint8_t)(a) | ((uint8_t)(b) << 8)))
#define UNDEFINED_LENGTH 0xFFFFFFFFu

/* 2: VR with a 32-bit length (12-byte header), 1: VR with a 16-bit length (8-byte header), 0: unknown. */
static int vr_kind(uint16_t vr)
{
    switch (vr) {
    case VR('O', 'B'): case VR('O', 'D'): case VR('O', 'F'): case VR('O', 'L'): case VR('O', 'V'):
    case VR('O', 'W'): case VR('S', 'Q'): case VR('U', 'C'): case VR('U', 'N'): case VR('U', 'R'):
    case VR('U', 'T'): case VR('S', 'V'): case VR('U', 'V'):
        return 2;
    case VR('A', 'E'): case VR('A', 'S'): case VR('A', 'T'): case VR('C', 'S'): case VR('D', 'A'):
    case VR('D', 'S'): case VR('D', 'T'): case VR('F', 'D'): case VR('F', 'L'): case VR('I', 'S'):
    case VR('L', 'O'): case VR('L', 'T'): case VR('P', 'N'): case VR('S', 'H'): case VR('S', 'L'):
    case VR('S', 'S'): case VR('S', 'T'): case VR('T', 'M'): case VR('U', 'I'): case VR('U', 'L'):
    case VR('U', 'S'):
        return 1;
    default:
        return 0;
    }
}

#define MAX_DEPTH 32 /* nested undefined-length sequences skipped here; deeper ones Python walks */

static uint16_t u16(const uint8_t *p, int little)
{
    return little ? (uint16_t)(p[0] | (p[1] << 8)) : (uint16_t)((p[0] << 8) | p[1]);
}
static uint32_t u32(const uint8_t *p, int little)
{
    if (!little)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static PyObject *result(int step, long long pos, long long last_tag, long long need)
{
    return Py_BuildValue("(iLLL)", step, pos, last_tag, need);
}

/* How a value of a VR is decoded, mirroring reader.py's Python decoders for values whose bytes are all NUL
 * or printable ASCII (0x20-0x7E): there latin-1, ASCII and every DICOM character set agree, and the only
 * whitespace that str.strip() knows is the space. */
enum rule {
    RULE_NONE,         /* not decoded here: Python decodes (ints, PN, UN, ...) */
    RULE_MULTI,        /* AE AS CS DA DT TM UR: rstrip(" \0"), split on '\' */
    RULE_NUMBER,       /* DS IS: strip(), rstrip(" \0"), split on '\' */
    RULE_UID,          /* UI: rstrip(" \0"), split on '\', strip() each; one value: a str */
    RULE_TEXT_MULTI,   /* SH LO UC: split on '\' if there is one, rstrip("\0 ") each */
    RULE_TEXT_SINGLE,  /* ST LT UT: rstrip("\0 ") */
};

static enum rule vr_rule(uint16_t vr)
{
    switch (vr) {
    case VR('A', 'E'): case VR('A', 'S'): case VR('C', 'S'): case VR('D', 'A'): case VR('D', 'T'):
    case VR('T', 'M'): case VR('U', 'R'):
        return RULE_MULTI;
    case VR('D', 'S'): case VR('I', 'S'):
        return RULE_NUMBER;
    case VR('U', 'I'):
        return RULE_UID;
    case VR('S', 'H'): case VR('L', 'O'): case VR('U', 'C'):
        return RULE_TEXT_MULTI;
    case VR('S', 'T'): case VR('L', 'T'): case VR('U', 'T'):
        return RULE_TEXT_SINGLE;
    default:
        return RULE_NONE;
    }
}

/* [start, end) without trailing spaces and NULs, and (lead) without leading spaces. */
static void trim(const uint8_t *v, Py_ssize_t *start, Py_ssize_t *end, int lead, int trail_nul)
{
    while (*end > *start && (v[*end - 1] == ' ' || (trail_nul && v[*end - 1] == 0)))
        (*end)--;
    while (lead && *start < *end && v[*start] == ' ')
        (*start)++;
}

/* The value split on '\' into a list of str, each trimmed (lead: spaces; trail: spaces and NULs). */
static PyObject *split(const uint8_t *v, Py_ssize_t start, Py_ssize_t end, int lead, int trail)
{
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    Py_ssize_t from = start;
    for (Py_ssize_t i = start; i <= end; i++) {
        if (i < end && v[i] != '\\')
            continue;
        Py_ssize_t a = from, b = i;
        if (trail || lead)
            trim(v, &a, &b, lead, trail);
        PyObject *item = PyUnicode_DecodeASCII((const char *)v + a, b - a, NULL);
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(items);
            return NULL;
        }
        Py_DECREF(item);
        from = i + 1;
    }
    return items;
}

/* The decoded value (str or list of str), or NULL: with an error set on failure, without one when the
 * value is not plain ASCII or its VR has no rule (then Python decodes it). */
static PyObject *decode(uint16_t vr, const uint8_t *v, Py_ssize_t length)
{
    enum rule rule = vr_rule(vr);
    if (rule == RULE_NONE)
        return NULL;
    int backslash = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        if (v[i] != 0 && (v[i] < 0x20 || v[i] > 0x7E))
            return NULL;
        backslash |= v[i] == '\\';
    }
    Py_ssize_t start = 0, end = length;
    switch (rule) {
    case RULE_MULTI:
    case RULE_NUMBER:
        trim(v, &start, &end, rule == RULE_NUMBER, 1);
        break;
    case RULE_UID:
        trim(v, &start, &end, 0, 1);
        if (memchr(v + start, '\\', (size_t)(end - start)) != NULL)
            return split(v, start, end, 1, 0);
        trim(v, &start, &end, 1, 0);
        break;
    case RULE_TEXT_MULTI:
        if (backslash)
            return split(v, start, end, 0, 1);
        trim(v, &start, &end, 0, 1);
        break;
    case RULE_TEXT_SINGLE:
        trim(v, &start, &end, 0, 1);
        break;
    default:
        return NULL;
    }
    if ((rule == RULE_MULTI || rule == RULE_NUMBER) && memchr(v + start, '\\', (size_t)(end - start)) != NULL)
        return split(v, start, end, 0, 0);
    return PyUnicode_DecodeASCII((const char *)v + start, end - start, NULL);
}

/* The integers of a US, SS, UL or SL value (one: an int, more: a list) as reader._decode_raw unpacks them
 * in the file's byte order, or NULL without an error for another VR or a value shorter than one integer
 * (Python decodes those: None or an empty list). */
static PyObject *decode_ints(uint16_t vr, const uint8_t *v, Py_ssize_t length, int little)
{
    int width, is_signed;
    switch (vr) {
    case VR('U', 'S'): width = 2; is_signed = 0; break;
    case VR('S', 'S'): width = 2; is_signed = 1; break;
    case VR('U', 'L'): width = 4; is_signed = 0; break;
    case VR('S', 'L'): width = 4; is_signed = 1; break;
    default: return NULL;
    }
    Py_ssize_t n = length / width;
    if (n == 0)
        return NULL;
    PyObject *items = n == 1 ? NULL : PyList_New(n);
    if (n > 1 && items == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *p = v + i * width;
        uint32_t u = width == 2 ? u16(p, little) : u32(p, little);
        long long number = !is_signed ? (long long)u : width == 2 ? (long long)(int16_t)u : (long long)(int32_t)u;
        PyObject *item = PyLong_FromLongLong(number);
        if (item == NULL) {
            Py_XDECREF(items);
            return NULL;
        }
        if (n == 1)
            return item;
        PyList_SET_ITEM(items, i, item);
    }
    return items;
}

/* Store done[keyword] = the decoded value when ``done`` is a dict and the value is plain (or, ``ints``
 * >= 0, an integer VR: ints is then the byte order, 1 little endian), else out[keyword] = (VR name or None,
 * value bytes); None for UN and for implicit VR (``vr`` is then the data dictionary's, which Python looks
 * up itself). ``done`` may be ``out`` itself (the items of sequences: decoded values beside raw pairs).
 * Returns 0, or -1 with a Python error set. */
static int store(PyObject *out, PyObject *done, PyObject *keyword, uint16_t vr, int implicit, int ints,
                 const uint8_t *value, Py_ssize_t length, int *raw_left)
{
    PyObject *name, *raw, *pair;
    if (done != Py_None) {
        PyObject *decoded = ints >= 0 ? decode_ints(vr, value, length, ints) : NULL;
        if (decoded == NULL && !PyErr_Occurred())
            decoded = decode(vr, value, length);
        if (decoded != NULL) {
            int rc = PyDict_SetItem(done, keyword, decoded);
            Py_DECREF(decoded);
            return rc;
        }
        if (PyErr_Occurred())
            return -1;
    }
    if (implicit || vr == VR('U', 'N')) {
        name = Py_NewRef(Py_None);
    } else {
        char text[2] = {(char)(vr & 0xFF), (char)(vr >> 8)};
        name = PyUnicode_FromStringAndSize(text, 2);
    }
    raw = PyBytes_FromStringAndSize((const char *)value, length);
    if (name == NULL || raw == NULL) {
        Py_XDECREF(name);
        Py_XDECREF(raw);
        return -1;
    }
    pair = PyTuple_Pack(2, name, raw);
    Py_DECREF(name);
    Py_DECREF(raw);
    if (pair == NULL)
        return -1;
    *raw_left = 1;
    int rc = PyDict_SetItem(out, keyword, pair);
    Py_DECREF(pair);
    return rc;
}

/* A scanner for one set of wanted tags in one encoding: sorted tags, their specs and dictionary VRs. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    uint32_t *tags;
    PyObject **specs; /* owned */
    uint16_t *vrs;    /* implicit VR: the dictionary VR of tags[i] (0: unknown, not decoded here) */
    Py_ssize_t *slots; /* open-addressing hash of the tags: index + 1 into tags, 0 empty; mask + 1 slots */
    uint32_t mask, shift;
    long long first, last;
    int implicit, little, sequences;
    struct interned *interned; /* the top-level walk's decoded texts, by value (store_top); NULL until used */
} Scanner;

/* One decoded top-level text and the bytes it was decoded from (a slot of Scanner.interned). */
#define INTERN_SLOTS 1024
#define INTERN_MAX 64
struct interned {
    PyObject *value; /* a str, or NULL: empty slot */
    uint32_t tag;
    uint16_t vr, length;
    uint8_t bytes[INTERN_MAX];
};

static void scanner_dealloc(Scanner *self)
{
    for (Py_ssize_t i = 0; self->interned != NULL && i < INTERN_SLOTS; i++)
        Py_XDECREF(self->interned[i].value);
    PyMem_Free(self->interned);
    for (Py_ssize_t i = 0; i < self->n; i++)
        Py_XDECREF(self->specs[i]);
    PyMem_Free(self->tags);
    PyMem_Free(self->specs);
    PyMem_Free(self->vrs);
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int compare_tags(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static PyObject *scanner_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"wanted", "first", "last", "implicit", "little", "vrs", "sequences", NULL};
    PyObject *wanted, *vrs = Py_None;
    long long first, last;
    int implicit = 0, little = 1, sequences = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!LL|ppOp", names, &PyDict_Type, &wanted, &first, &last,
                                     &implicit, &little, &vrs, &sequences))
        return NULL;
    if (vrs != Py_None && !PyDict_Check(vrs)) {
        PyErr_SetString(PyExc_TypeError, "vrs must be a dict or None");
        return NULL;
    }
    Scanner *self = (Scanner *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->first = first;
    self->last = last;
    self->implicit = implicit;
    self->little = little;
    self->sequences = sequences;
    Py_ssize_t n = PyDict_Size(wanted), i = 0, at = 0;
    size_t slots = n > 0 ? (size_t)n : 1;
    self->tags = PyMem_Calloc(slots, sizeof(uint32_t));
    self->specs = PyMem_Calloc(slots, sizeof(PyObject *));
    self->vrs = PyMem_Calloc(slots, sizeof(uint16_t));
    if (self->tags == NULL || self->specs == NULL || self->vrs == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    PyObject *key, *value;
    /* sort the tags first, then look their specs up, so tags[i] and specs[i] stay paired */
    while (PyDict_Next(wanted, &i, &key, &value)) {
        unsigned long long tag = PyLong_AsUnsignedLongLong(key);
        if (PyErr_Occurred() || tag > 0xFFFFFFFFull) {
            Py_DECREF(self);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a wanted tag does not fit in 32 bits");
            return NULL;
        }
        self->tags[at++] = (uint32_t)tag;
    }
    qsort(self->tags, (size_t)n, sizeof(uint32_t), compare_tags);
    self->n = n;
    /* a hash table at most a quarter full: a tag is found (or not) in about one probe, where a binary search
     * over the ~37 top-level tags costs six unpredictable branches for each of the ~200-600 elements */
    uint32_t bits = 4;
    while (bits < 30 && ((size_t)1 << bits) < 4 * slots)
        bits++;
    self->mask = ((uint32_t)1 << bits) - 1;
    self->shift = 32 - bits;
    self->slots = PyMem_Calloc((size_t)self->mask + 1, sizeof(Py_ssize_t));
    if (self->slots == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (at = 0; at < n; at++) {
        uint32_t h = (self->tags[at] * 2654435761u) >> self->shift;
        while (self->slots[h] != 0)
            h = (h + 1) & self->mask;
        self->slots[h] = at + 1;
    }
    for (at = 0; at < n; at++) {
        PyObject *tag = PyLong_FromUnsignedLong(self->tags[at]);
        if (tag == NULL) {
            Py_DECREF(self);
            return NULL;
        }
        PyObject *spec = PyDict_GetItemWithError(wanted, tag);
        PyObject *vr = spec != NULL && vrs != Py_None ? PyDict_GetItemWithError(vrs, tag) : NULL;
        Py_DECREF(tag);
        if (spec == NULL || PyErr_Occurred()) {
            Py_DECREF(self);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "wanted changed while the scanner was built");
            return NULL;
        }
        self->specs[at] = Py_NewRef(spec);
        if (vr != NULL) {
            Py_ssize_t len;
            const char *name = PyUnicode_Check(vr) ? PyUnicode_AsUTF8AndSize(vr, &len) : NULL;
            if (name == NULL || len != 2) {
                Py_DECREF(self);
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "a VR in vrs is not a 2-letter str");
                return NULL;
            }
            self->vrs[at] = VR(name[0], name[1]);
        }
    }
    return (PyObject *)self;
}

/* The index of a tag in the sorted tags, or -1 when it is not wanted (or there is no scanner): a probe of
 * the hash table. */
static Py_ssize_t lookup(const Scanner *self, uint32_t tag)
{
    if (self == NULL)
        return -1;
    uint32_t h = (tag * 2654435761u) >> self->shift;
    for (;;) {
        Py_ssize_t at = self->slots[h];
        if (at == 0)
            return -1;
        if (self->tags[at - 1] == tag)
            return at - 1;
        h = (h + 1) & self->mask;
    }
}

/* What skipping an undefined-length sequence gives besides the offset after it. */
enum { SKIP_NEED = -1, SKIP_GENERAL = -2 };

static long long walk_item(const Scanner *sc, const uint8_t *buf, long long nbuf, long long pos, long long end,
                           int implicit, int little, int depth, PyObject *item, long long *need, int *raw_left);

/* Skip the items of an undefined-length sequence whose value starts at pos, to after its sequence
 * delimiter, as Walker._items(pos, None, ..., None, 0) does; returns as walk_item. */
static long long skip_items(const uint8_t *buf, long long nbuf, long long pos, int implicit, int little, int depth,
                            long long *need)
{
    if (depth > MAX_DEPTH)
        return SKIP_GENERAL;
    for (;;) {
        if (pos + 8 > nbuf) {
            *need = pos + 8;
            return SKIP_NEED;
        }
        const uint8_t *p = buf + pos;
        uint16_t group = u16(p, little), elem = u16(p + 2, little);
        uint32_t length = u32(p + 4, little);
        pos += 8;
        if (group != 0xFFFE)
            return SKIP_GENERAL;
        if (elem == 0xE0DD)
            return pos;
        if (elem != 0xE000)
            return SKIP_GENERAL;
        if (length != UNDEFINED_LENGTH) {
            pos += length;
            continue;
        }
        int unused = 0;
        pos = walk_item(NULL, buf, nbuf, pos, -1, implicit, little, depth, NULL, need, &unused);
        if (pos < 0)
            return pos;
    }
}

static PyTypeObject ScannerType;

/* What walking a wanted sequence gives besides an offset (SKIP_NEED and SKIP_GENERAL as above). */
enum { WALK_ERROR = -3 }; /* a Python error is set */

static long long walk_sequence(PyObject *spec, const uint8_t *buf, long long nbuf, long long pos, long long length,
                               uint16_t vr, int implicit, int little, int depth, PyObject *out, PyObject *done,
                               long long *need, long long *resume, int *raw_left);

/* Walk the elements of one item from pos to ``end`` (or, end < 0, to its item delimiter), collecting the
 * raw values of the tags ``sc`` wants into the dict ``item`` and walking the wanted sequences inside, as
 * Walker.walk(pos, end, wanted, item, top=False) does; with sc NULL (and item NULL) it only skips, as
 * Walker.walk(pos, None, {}, {}, False). Returns the offset after the item, or SKIP_NEED (the buffer ends
 * first; *need: the bytes wanted), SKIP_GENERAL (something Python must judge) or WALK_ERROR. */
static long long walk_item(const Scanner *sc, const uint8_t *buf, long long nbuf, long long pos, long long end,
                           int implicit, int little, int depth, PyObject *item, long long *need, int *raw_left)
{
    if (depth > MAX_DEPTH)
        return SKIP_GENERAL;
    for (;;) {
        if (end >= 0 && pos >= end)
            return pos > end ? SKIP_GENERAL : pos;
        if (pos + 12 > nbuf) {
            *need = pos + 12;
            return SKIP_NEED;
        }
        const uint8_t *p = buf + pos;
        uint32_t group = u16(p, little), tag = (group << 16) | u16(p + 2, little);
        uint16_t vr = VR(p[4], p[5]);
        long long length, hdr = 8;
        if (implicit || group == 0xFFFE) {
            length = u32(p + 4, little);
            vr = 0;
        } else {
            int kind = vr_kind(vr);
            if (kind == 0)
                return SKIP_GENERAL;
            length = kind == 2 ? (long long)u32(p + 8, little) : (long long)u16(p + 6, little);
            hdr = kind == 2 ? 12 : 8;
        }
        if (group == 0xFFFE)
            return tag == 0xFFFEE00Du && end < 0 ? pos + 8 : SKIP_GENERAL;
        pos += hdr;
        Py_ssize_t at = lookup(sc, tag);
        PyObject *spec = at < 0 ? NULL : sc->specs[at];
        if (spec == NULL) {
            if (length != UNDEFINED_LENGTH) {
                pos += length;
                continue;
            }
            if (!implicit && vr != VR('S', 'Q') && vr != VR('U', 'N'))
                return SKIP_GENERAL;
            int un = vr == VR('U', 'N');
            pos = skip_items(buf, nbuf, pos, implicit || un, little || un, depth + 1, need);
        } else if (!PyUnicode_CheckExact(spec)) {
            pos = walk_sequence(spec, buf, nbuf, pos, length, vr, implicit, little, depth + 1, item, item, need, NULL,
                                raw_left);
        } else {
            if (length == UNDEFINED_LENGTH)
                return SKIP_GENERAL;
            if (pos + length > nbuf) {
                *need = pos + length;
                return SKIP_NEED;
            }
            uint16_t value_vr = implicit ? sc->vrs[at] : vr;
            if (store(item, item, spec, value_vr, implicit, -1, buf + pos, (Py_ssize_t)length, raw_left) < 0)
                return WALK_ERROR;
            pos += length;
        }
        if (pos < 0)
            return pos;
    }
}

/* Walk a wanted sequence whose value (``length`` bytes, or undefined) starts at pos: out[keyword] = the
 * list of its items, each a dict of the wanted raw values, as Walker.walk does for a (keyword, subtree)
 * spec. ``spec`` is (keyword, Scanner of the items' wanted tags, first_only). With ``resume`` (the top
 * level) and first_only, only the first item is walked and *resume is where the walk goes on: the end of
 * a sequence of defined length, or -1 (undefined length: Python finds its end). Returns the offset after
 * the sequence (or the first item), or SKIP_NEED, SKIP_GENERAL or WALK_ERROR. */
static long long walk_sequence(PyObject *spec, const uint8_t *buf, long long nbuf, long long pos, long long length,
                               uint16_t vr, int implicit, int little, int depth, PyObject *out, PyObject *done,
                               long long *need, long long *resume, int *raw_left)
{
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3 ||
        !PyObject_TypeCheck(PyTuple_GET_ITEM(spec, 1), &ScannerType))
        return SKIP_GENERAL; /* a spec for the Python walker only */
    const Scanner *sc = (const Scanner *)PyTuple_GET_ITEM(spec, 1);
    int first_only = resume != NULL && PyObject_IsTrue(PyTuple_GET_ITEM(spec, 2)) == 1;
    int un = !implicit && vr == VR('U', 'N');
    if (!implicit && !un && vr != VR('S', 'Q'))
        return SKIP_GENERAL; /* not a sequence: Python sends the file to pydicom */
    if (depth > MAX_DEPTH)
        return SKIP_GENERAL;
    int item_implicit = implicit || un, item_little = little || un;
    long long seq_end = length == UNDEFINED_LENGTH ? -1 : pos + length;
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return WALK_ERROR;
    long long rc = 0;
    int raw = 0; /* a raw value (a pair Python decodes) is left in an item */
    int delimited = 0;
    while (seq_end < 0 || pos < seq_end) {
        if (pos + 8 > nbuf) {
            *need = pos + 8;
            rc = SKIP_NEED;
            goto fail;
        }
        const uint8_t *p = buf + pos;
        uint16_t group = u16(p, item_little), elem = u16(p + 2, item_little);
        uint32_t item_length = u32(p + 4, item_little);
        pos += 8;
        if (group != 0xFFFE || (elem != 0xE000 && elem != 0xE0DD)) {
            rc = SKIP_GENERAL;
            goto fail;
        }
        if (elem == 0xE0DD) {
            delimited = 1;
            break;
        }
        PyObject *item = PyDict_New();
        if (item == NULL) {
            rc = WALK_ERROR;
            goto fail;
        }
        long long item_end = item_length == UNDEFINED_LENGTH ? -1 : pos + item_length;
        rc = walk_item(sc, buf, nbuf, pos, item_end, item_implicit, item_little, depth, item, need, &raw);
        if (rc < 0 || PyList_Append(items, item) < 0) {
            Py_DECREF(item);
            rc = rc < 0 ? rc : WALK_ERROR;
            goto fail;
        }
        Py_DECREF(item);
        pos = rc;
        if (first_only)
            break;
    }
    if (!delimited && !first_only && pos != seq_end) {
        rc = SKIP_GENERAL; /* the items run past the sequence's declared length */
        goto fail;
    }
    /* a sequence whose items hold only decoded values is decoded itself */
    if (PyDict_SetItem(raw || done == Py_None ? out : done, PyTuple_GET_ITEM(spec, 0), items) < 0) {
        rc = WALK_ERROR;
        goto fail;
    }
    Py_DECREF(items);
    if (first_only)
        *resume = seq_end;
    *raw_left |= raw;
    return pos;
fail:
    Py_DECREF(items);
    return rc;
}

/* store() for a top-level value, through the scanner's table of decoded texts: a value whose bytes (and tag and
 * VR) were decoded to a str before gets that same str object, not a new one. The images of a series repeat most
 * of their values (UIDs, dates, descriptions, the PatientID), so the record's texts are mostly shared objects,
 * whose hashes Python computes once (the ETL looks its series values up by them) and which cost no allocation.
 * The same values as store() gives: a str is immutable and these bytes decode to it. At most INTERN_SLOTS
 * values of INTERN_MAX bytes or fewer are kept (a slot is overwritten by the next value hashed to it); they stay
 * in the process like the batch's other memos. Returns as store(). */
static int store_top(Scanner *self, uint32_t tag, PyObject *out, PyObject *done, PyObject *keyword, uint16_t vr,
                     int implicit, int ints, const uint8_t *value, Py_ssize_t length, int *raw_left)
{
    if (done == Py_None || length > INTERN_MAX || vr_rule(vr) == RULE_NONE)
        return store(out, done, keyword, vr, implicit, ints, value, length, raw_left);
    if (self->interned == NULL) {
        self->interned = PyMem_Calloc(INTERN_SLOTS, sizeof(struct interned));
        if (self->interned == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    uint64_t h = 14695981039346656037ull ^ tag ^ ((uint64_t)vr << 32); /* FNV-1a */
    for (Py_ssize_t i = 0; i < length; i++)
        h = (h ^ value[i]) * 1099511628211ull;
    struct interned *slot = &self->interned[(h ^ (h >> 32)) & (INTERN_SLOTS - 1)];
    if (slot->value != NULL && slot->tag == tag && slot->vr == vr && slot->length == length &&
        memcmp(slot->bytes, value, (size_t)length) == 0)
        return PyDict_SetItem(done, keyword, slot->value);
    int raw = 0;
    if (store(out, done, keyword, vr, implicit, ints, value, length, &raw) < 0)
        return -1;
    *raw_left |= raw;
    PyObject *decoded = raw ? NULL : PyDict_GetItemWithError(done, keyword); /* borrowed */
    if (decoded == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (PyUnicode_CheckExact(decoded)) {
        Py_XSETREF(slot->value, Py_NewRef(decoded));
        slot->tag = tag;
        slot->vr = vr;
        slot->length = (uint16_t)length;
        memcpy(slot->bytes, value, (size_t)length);
    }
    return 0;
}

/* The top-level walk of Scanner.scan over buf[0, nbuf) from *pos (an offset into buf) with *last_tag the tag
 * before it; *pos, *last_tag and (STEP_NEED: the bytes of buf wanted; STEP_FRAMES: whether the items are UN) *need
 * are updated as scan returns them. Returns the step, or -1 with a Python error set. */
static int walk_top(const Scanner *self, const uint8_t *buf, long long nbuf, long long *ppos, long long *plast,
                    PyObject *out, PyObject *done, long long *pneed)
{
    long long pos = *ppos, last_tag = *plast, need = 0;
    const int implicit = self->implicit, little = self->little;
    int raw_left = 0; /* unused here: what is raw is in out */
    int step;
    for (;;) {
        if (pos + 12 > nbuf) {
            step = STEP_NEED;
            need = pos + 12;
            break;
        }
        const uint8_t *p = buf + pos;
        long long group = u16(p, little), tag = (group << 16) | u16(p + 2, little);
        uint16_t vr = VR(p[4], p[5]);
        if (group == 0xFFFE) { /* an item or a delimiter at the top level */
            step = STEP_UNUSUAL;
            break;
        }
        if (tag <= last_tag) {
            step = STEP_ORDER;
            break;
        }
        if (tag < self->first || tag > self->last) {
            step = STEP_DONE;
            break;
        }
        long long length, hdr;
        if (implicit) {
            length = u32(p + 4, little);
            hdr = 8;
        } else {
            int kind = vr_kind(vr);
            if (kind == 0) { /* an unknown VR */
                step = STEP_UNUSUAL;
                break;
            }
            length = kind == 2 ? (long long)u32(p + 8, little) : (long long)u16(p + 6, little);
            hdr = kind == 2 ? 12 : 8;
        }
        long long previous = last_tag;
        last_tag = tag;
        Py_ssize_t at = lookup(self, (uint32_t)tag);
        PyObject *spec = at < 0 ? NULL : self->specs[at]; /* borrowed */
        int sequence = spec != NULL && !PyUnicode_CheckExact(spec);
        if (sequence || length == UNDEFINED_LENGTH) {
            /* a wanted sequence is walked, an unwanted one of undefined length skipped; the rest Python judges */
            int un = !implicit && vr == VR('U', 'N');
            long long resume = -2, after;
            if (sequence)
                after = walk_sequence(spec, buf, nbuf, pos + hdr, length, vr, implicit, little, 1, out, done, &need,
                                      &resume, &raw_left);
            else if (spec != NULL || !self->sequences || (!implicit && !un && vr != VR('S', 'Q')))
                after = SKIP_GENERAL;
            else
                after = skip_items(buf, nbuf, pos + hdr, implicit || un, little || un, 1, &need);
            if (after == WALK_ERROR)
                return -1;
            if (after == SKIP_NEED) {
                step = STEP_NEED;
                last_tag = previous;
                break;
            }
            if (after == SKIP_GENERAL) {
                step = STEP_GENERAL;
                need = 0;
                break;
            }
            if (resume >= 0) { /* the first frame of the per-frame groups: the walk ends; go on after them */
                step = STEP_DONE;
                pos = resume;
                break;
            }
            if (resume == -1) { /* the same, of undefined length: Python finds the end (need: UN, items in
                                 * implicit VR little endian) */
                step = STEP_FRAMES;
                pos = after;
                need = un;
                break;
            }
            pos = after;
            continue;
        }
        if (spec == NULL) {
            pos += hdr + length;
            continue;
        }
        if (pos + hdr + length > nbuf) { /* read this element again once the buffer holds it */
            step = STEP_NEED;
            need = pos + hdr + length;
            last_tag = previous;
            break;
        }
        uint16_t value_vr = implicit ? self->vrs[at] : vr;
        if (store_top((Scanner *)self, (uint32_t)tag, out, done, spec, value_vr, implicit, little, p + hdr,
                      (Py_ssize_t)length, &raw_left) < 0)
            return -1;
        pos += hdr + length;
    }
    *ppos = pos;
    *plast = last_tag;
    *pneed = need;
    return step;
}

static PyObject *scanner_scan(Scanner *self, PyObject *args)
{
    Py_buffer view;
    long long pos, last_tag, base = 0;
    PyObject *out, *done;
    if (!PyArg_ParseTuple(args, "y*LLO!O|L", &view, &pos, &last_tag, &PyDict_Type, &out, &done, &base))
        return NULL;
    if (done != Py_None && !PyDict_Check(done)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "done must be a dict or None");
        return NULL;
    }
    long long need = 0;
    if (base < 0 || pos < base) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the offset is before the buffer");
        return NULL;
    }
    /* the walk runs on offsets into the buffer; file offsets (base + ...) only come in and go out here */
    pos -= base;
    int step = walk_top(self, (const uint8_t *)view.buf, (long long)view.len, &pos, &last_tag, out, done, &need);
    PyBuffer_Release(&view);
    if (step < 0)
        return NULL;
    return result(step, pos + base, last_tag, step == STEP_NEED ? need + base : need);
}

static PyObject *module_skip_items(PyObject *module, PyObject *args)
{
    Py_buffer view;
    long long pos, need = 0, base = 0;
    int implicit, little;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*Lpp|L", &view, &pos, &implicit, &little, &base))
        return NULL;
    long long after = pos < base || base < 0 ? SKIP_GENERAL
                      : skip_items((const uint8_t *)view.buf, (long long)view.len, pos - base, implicit, little,
                                   1, &need);
    PyBuffer_Release(&view);
    if (after >= 0)
        after += base;
    return Py_BuildValue("(LL)", after, after == SKIP_NEED ? need + base : need);
}

static PyMethodDef module_methods[] = {
    {"skip_items", module_skip_items, METH_VARARGS,
     "skip_items(buf, pos, implicit, little, base=0) -> (after, need): skip the items of an undefined-length "
     "sequence whose value starts at pos (buf holds the file from offset base); after is the offset past its "
     "delimiter, or -1 (the buffer must hold the file up to offset need) or -2 (something irregular: Python "
     "walks it and decides)."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef scanner_methods[] = {
    {"scan", (PyCFunction)scanner_scan, METH_VARARGS,
     "scan(buf, pos, last_tag, out, done, base=0) -> (step, pos, last_tag, need): walk the top-level elements "
     "from pos (a file offset; buf holds the file from offset base) in the scanner's encoding, storing done[keyword] = decoded value (done a dict, plain ASCII string VRs) or "
     "out[keyword] = (VR name or None, raw bytes) for the wanted plain values."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rcdm.dicom._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Scanner(wanted, first, last, implicit=False, little=True, vrs=None, sequences=True): walks the elements with tags in [first, last] (DONE at the "
              "first tag outside), keeping the values of wanted tags (dict tag -> keyword, or a "
              "non-str spec for sequences, handed back as STEP_GENERAL).",
    .tp_new = scanner_new,
    .tp_dealloc = (destructor)scanner_dealloc,
    .tp_methods = scanner_methods,
};

/* --- FileWalk: a whole file's fast read, for reader._compiled_read ----------------------------------------------
 *
 * FileWalk(spec).step(buf, base, size) -> (kind, found, skip)
 *   spec   (meta Scanner, top Scanner for explicit VR LE, implicit VR LE, explicit VR BE, the 34 keywords of
 *          ASSEMBLY, the DICOMDIR SOP class UID)
 *   buf    the file's bytes from offset base, size the file's size
 * One FileWalk a file, stepped until it is not FILE_NEED. It does in one C call what reader._fast_read,
 * _convert_fast and _assemble do in Python for a plain file (file meta, then the top-level walk, then the check
 * up to Pixel Data, then the record), the same checks in the same order, and hands anything else back:
 *   FILE_NEED      found = the file offset the buffer must reach (never past size), skip = the offset before
 *                  which bytes missing from the buffer need no reading (Source.need's skipped_to); step again
 *   FILE_RECORD    found = the tuple of HeaderRecord's values, in its field order
 *   FILE_HANDOVER  found = (stage, step, pos, last_tag, need, out, decoded, implicit, little, ts, media_class):
 *                  Python goes on from there (stage 1: the top-level walk, at the step scan returned; 2: the check
 *                  up to Pixel Data from pos; 3: nothing but converting the values, some not plain)
 *   FILE_FALLBACK  the file meta is not what the fast path reads at once (no DICM marker, a meta group longer than
 *                  the file or irregular, a transfer syntax it does not read): _fast_read reads it from the start
 */
enum { FILE_NEED = 1, FILE_RECORD = 2, FILE_HANDOVER = 3, FILE_FALLBACK = 4 };
enum { PHASE_META = 0, PHASE_TOP = 1, PHASE_PIXELS = 2 };

/* ASSEMBLY: the keywords of the spec, in this order (reader._ASSEMBLY_KEYWORDS). The first 23 are plain text
 * (the three UIDs, the 18 text fields from SOPClassUID to ImageLaterality, ContrastBolusAgent, ContrastBolusRoute). */
enum {
    KW_PLAIN = 23, KW_SOP_CLASS = 3, KW_AGENT = 21, KW_ROUTE = 22, KW_THICKNESS = 23, KW_ORIENTATION, KW_IMAGE_TYPE,
    KW_SHARED_GROUPS, KW_PER_FRAME_GROUPS, KW_AGENT_SEQUENCE, KW_INSTANCE, KW_ROWS, KW_COLUMNS, KW_FRAMES, KW_CHARSET,
    KW_COUNT
};
#define RECORD_FIELDS 34

typedef struct {
    PyObject_HEAD
    PyObject *spec;
    PyObject *meta, *out, *done; /* the raw file meta values; the top level's raw and decoded values */
    PyObject *ts, *media_class;  /* str or NULL */
    long long pos, last_tag, resume;
    int phase, implicit, little;
} FileWalk;

static void filewalk_dealloc(FileWalk *self)
{
    Py_XDECREF(self->spec);
    Py_XDECREF(self->meta);
    Py_XDECREF(self->out);
    Py_XDECREF(self->done);
    Py_XDECREF(self->ts);
    Py_XDECREF(self->media_class);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *filewalk_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &spec))
        return NULL;
    (void)kwargs;
    if (PyTuple_GET_SIZE(spec) != 6 || !PyTuple_Check(PyTuple_GET_ITEM(spec, 4)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(spec, 4)) != KW_COUNT || !PyUnicode_Check(PyTuple_GET_ITEM(spec, 5))) {
        PyErr_SetString(PyExc_TypeError, "spec: (meta, 3 top-level Scanners, 34 keywords, DICOMDIR class UID)");
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        if (!PyObject_TypeCheck(PyTuple_GET_ITEM(spec, i), &ScannerType)) {
            PyErr_SetString(PyExc_TypeError, "spec: the first four items are Scanners");
            return NULL;
        }
    FileWalk *self = (FileWalk *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->spec = Py_NewRef(spec);
    self->meta = PyDict_New();
    self->out = PyDict_New();
    self->done = PyDict_New();
    if (self->meta == NULL || self->out == NULL || self->done == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->pos = 132;
    self->last_tag = -1;
    self->phase = PHASE_META;
    return (PyObject *)self;
}

/* A file meta value (raw pair of the meta scanner, or NULL) as _read_meta decodes it: latin-1, trailing NULs
 * and spaces off; NULL (no error) when absent. *bytes and *len: the stripped bytes. */
static PyObject *meta_text(PyObject *pair, const char **bytes, Py_ssize_t *len)
{
    if (pair == NULL || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(pair, 1)))
        return NULL;
    PyObject *raw = PyTuple_GET_ITEM(pair, 1);
    const char *v = PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    while (n > 0 && (v[n - 1] == 0 || v[n - 1] == ' '))
        n--;
    *bytes = v;
    *len = n;
    return PyUnicode_DecodeLatin1(v, n, NULL);
}

static int text_is(const char *v, Py_ssize_t n, const char *text)
{
    size_t k = strlen(text);
    return (size_t)n == k && memcmp(v, text, k) == 0;
}

static int text_starts(const char *v, Py_ssize_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return (size_t)n >= k && memcmp(v, prefix, k) == 0;
}

/* Values as reader._assemble converts them, for the plain ones (what the compiled walk decodes); each returns a
 * new reference, or NULL: with an error set on failure, without one when the value is not plain (Python
 * assembles the record). */

/* _texts: None -> None, a list of str -> a tuple of them, a str -> (s,) or () when empty. */
static PyObject *as_texts(PyObject *v)
{
    if (v == Py_None)
        return Py_NewRef(Py_None);
    if (PyUnicode_CheckExact(v))
        return PyUnicode_GET_LENGTH(v) ? PyTuple_Pack(1, v) : PyTuple_New(0);
    if (!PyList_CheckExact(v))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i)))
            return NULL;
    return PyList_AsTuple(v);
}

/* _floats: None or "" -> None; a str or a list of str -> a tuple of float(each) (() for an empty list), None if
 * one is not a number. */
static PyObject *as_floats(PyObject *v)
{
    if (v == Py_None || (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) == 0))
        return Py_NewRef(Py_None);
    int single = PyUnicode_CheckExact(v);
    if (!single && !PyList_CheckExact(v))
        return NULL;
    Py_ssize_t n = single ? 1 : PyList_GET_SIZE(v);
    for (Py_ssize_t i = 0; !single && i < n; i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i)))
            return NULL;
    PyObject *numbers = PyTuple_New(n);
    if (numbers == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *number = PyFloat_FromString(single ? v : PyList_GET_ITEM(v, i));
        if (number == NULL) {
            Py_DECREF(numbers);
            if (!PyErr_ExceptionMatches(PyExc_ValueError))
                return NULL;
            PyErr_Clear();
            return Py_NewRef(Py_None);
        }
        PyTuple_SET_ITEM(numbers, i, number);
    }
    return numbers;
}

/* _int_of for an IS value: None or an int as it is, a str -> int(str); NULL without an error for anything else,
 * or a str int() refuses (Python's _int then tries it as a float). */
static PyObject *as_int(PyObject *v)
{
    if (v == Py_None || PyLong_CheckExact(v))
        return Py_NewRef(v);
    if (!PyUnicode_CheckExact(v))
        return NULL;
    PyObject *number = PyLong_FromUnicodeObject(v, 10);
    if (number == NULL && PyErr_ExceptionMatches(PyExc_ValueError))
        PyErr_Clear();
    return number;
}

/* The record's values (a tuple in HeaderRecord's field order), or NULL: with an error set on failure, without one
 * when a value is not plain (reader._assemble decides). */
static PyObject *assemble(PyObject *keywords, PyObject *done, PyObject *ts)
{
    PyObject *v[KW_COUNT];
    for (int i = 0; i < KW_COUNT; i++) {
        PyObject *found = PyDict_GetItemWithError(done, PyTuple_GET_ITEM(keywords, i)); /* borrowed */
        if (found == NULL && PyErr_Occurred())
            return NULL;
        v[i] = found; /* NULL: absent */
    }
    if (v[KW_SHARED_GROUPS] != NULL || v[KW_PER_FRAME_GROUPS] != NULL)
        return NULL; /* the functional groups fill in values */
    for (int i = 0; i < KW_COUNT; i++)
        if (v[i] == NULL)
            v[i] = Py_None;
    for (int i = 0; i < KW_PLAIN; i++)
        if (v[i] != Py_None && !PyUnicode_CheckExact(v[i]))
            return NULL;
    for (int i = 0; i < 3; i++) /* a UID absent or empty: quarantined, or pydicom finds it */
        if (v[i] == Py_None || PyUnicode_GET_LENGTH(v[i]) == 0)
            return NULL;
    if ((v[KW_AGENT] == Py_None || PyUnicode_GET_LENGTH(v[KW_AGENT]) == 0) && v[KW_AGENT_SEQUENCE] != Py_None)
        return NULL; /* the agent's code meaning */
    if ((v[KW_ROWS] != Py_None && !PyLong_CheckExact(v[KW_ROWS])) ||
        (v[KW_COLUMNS] != Py_None && !PyLong_CheckExact(v[KW_COLUMNS])))
        return NULL;
    PyObject *record = PyTuple_New(RECORD_FIELDS);
    if (record == NULL)
        return NULL;
    for (int i = 0; i < 21; i++)
        PyTuple_SET_ITEM(record, i, Py_NewRef(v[i]));
    PyObject *thickness = NULL;
    for (int field = 21; field < RECORD_FIELDS; field++) {
        PyObject *value;
        switch (field) {
        case 21: value = as_texts(v[KW_IMAGE_TYPE]); break;
        case 22: value = Py_NewRef(v[KW_AGENT]); break;
        case 23: value = Py_NewRef(v[KW_ROUTE]); break;
        case 24: value = Py_NewRef(Py_None); break; /* ContrastBolusAgentAdministered: functional groups only */
        case 25: value = as_floats(v[KW_ORIENTATION]); break;
        case 26: value = as_int(v[KW_INSTANCE]); break;
        case 27: /* _float: the first number, or None */
            thickness = as_floats(v[KW_THICKNESS]);
            value = thickness == NULL ? NULL
                    : Py_NewRef(thickness == Py_None || PyTuple_GET_SIZE(thickness) == 0 ? Py_None
                                : PyTuple_GET_ITEM(thickness, 0));
            Py_XDECREF(thickness);
            break;
        case 28: value = Py_NewRef(v[KW_ROWS]); break;
        case 29: value = Py_NewRef(v[KW_COLUMNS]); break;
        case 30: value = as_int(v[KW_FRAMES]); break;
        case 31: value = as_texts(v[KW_CHARSET]); break;
        case 32: value = Py_NewRef(ts); break;
        default: value = Py_NewRef(Py_False); break; /* no value came from the functional groups */
        }
        if (value == NULL) { /* an error, or a value for Python */
            Py_DECREF(record); /* the fields not set yet are NULL: tuple dealloc skips them */
            return NULL;
        }
        PyTuple_SET_ITEM(record, field, value);
    }
    return record;
}

static PyObject *file_result(int kind, PyObject *found, long long skip)
{
    if (found == NULL)
        return NULL;
    PyObject *result = Py_BuildValue("(iNL)", kind, found, skip);
    return result;
}

/* Hand the walk to Python at ``stage`` (see FileWalk). */
static PyObject *handover(FileWalk *self, int stage, int step, long long pos, long long last_tag, long long need)
{
    return file_result(FILE_HANDOVER,
                       Py_BuildValue("(iiLLLOOiiOO)", stage, step, pos, last_tag, need, self->out, self->done,
                                     self->implicit, self->little, self->ts, self->media_class), 0);
}

static PyObject *filewalk_step(FileWalk *self, PyObject *args)
{
    Py_buffer view;
    long long base, size;
    if (!PyArg_ParseTuple(args, "y*LL", &view, &base, &size))
        return NULL;
    const uint8_t *buf = (const uint8_t *)view.buf;
    const long long nbuf = (long long)view.len;
    PyObject *spec = self->spec, *found = NULL;
    long long need = 0;
    if (base < 0 || base + nbuf > size || self->pos < base) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the buffer is not the file's bytes from base");
        return NULL;
    }
    if (self->phase == PHASE_META) {
        if (base != 0 || nbuf < 132 || memcmp(buf + 128, "DICM", 4) != 0)
            goto fallback;
        long long pos = self->pos, last_tag = -1;
        int step = walk_top((const Scanner *)PyTuple_GET_ITEM(spec, 0), buf, nbuf, &pos, &last_tag, self->meta,
                            Py_None, &need);
        if (step < 0)
            goto error;
        if (step == STEP_NEED && need <= size) {
            self->pos = pos;
            found = PyLong_FromLongLong(need);
            PyBuffer_Release(&view);
            return file_result(FILE_NEED, found, 0);
        }
        if (step != STEP_DONE)
            goto fallback;
        const char *ts;
        Py_ssize_t n;
        self->ts = meta_text(PyDict_GetItemString(self->meta, "ts"), &ts, &n);
        if (self->ts == NULL) {
            if (PyErr_Occurred())
                goto error;
            goto fallback;
        }
        if (text_is(ts, n, "1.2.840.10008.1.2"))
            self->implicit = 1, self->little = 1;
        else if (text_is(ts, n, "1.2.840.10008.1.2.2"))
            self->implicit = 0, self->little = 0;
        else if (text_is(ts, n, "1.2.840.10008.1.2.1") || text_starts(ts, n, "1.2.840.10008.1.2.4.") ||
                 text_starts(ts, n, "1.2.840.10008.1.2.5"))
            self->implicit = 0, self->little = 1;
        else
            goto fallback; /* deflated, or a transfer syntax the fast path does not read */
        const char *media;
        self->media_class = meta_text(PyDict_GetItemString(self->meta, "sop_class"), &media, &n);
        if (self->media_class == NULL) {
            if (PyErr_Occurred())
                goto error;
            self->media_class = Py_NewRef(Py_None);
        }
        /* pydicom checks the first element's VR against the transfer syntax */
        if (pos + 6 <= nbuf && (vr_kind(VR(buf[pos + 4], buf[pos + 5])) != 0) == self->implicit)
            goto fallback;
        self->pos = pos;
        self->last_tag = -1;
        self->phase = PHASE_TOP;
    }
    if (self->phase == PHASE_TOP) {
        const Scanner *top = (const Scanner *)PyTuple_GET_ITEM(spec, self->implicit ? 2 : self->little ? 1 : 3);
        long long pos = self->pos - base, last_tag = self->last_tag;
        int step = walk_top(top, buf, nbuf, &pos, &last_tag, self->out, self->done, &need);
        if (step < 0)
            goto error;
        pos += base;
        if (step == STEP_NEED) {
            need += base;
            if (need <= size) {
                self->pos = pos;
                self->last_tag = last_tag;
                found = PyLong_FromLongLong(need);
                PyBuffer_Release(&view);
                return file_result(FILE_NEED, found, pos);
            }
        }
        if (step != STEP_DONE) {
            PyBuffer_Release(&view);
            return handover(self, 1, step, pos, last_tag, need);
        }
        self->pos = self->resume = pos;
        self->last_tag = -1;
        self->phase = PHASE_PIXELS;
    }
    /* PHASE_PIXELS: reader._check_pixel_data, from the buffer; what it cannot judge there goes to Python */
    {
        long long pos = self->pos, last_tag = self->last_tag;
        const int implicit = self->implicit, little = self->little;
        for (;;) {
            if (pos >= size)
                break;
            if (pos + 12 > base + nbuf) { /* the element header is not in the buffer */
                if (pos + 12 > size)
                    goto pixels_by_python;
                self->pos = pos;
                self->last_tag = last_tag;
                found = PyLong_FromLongLong(pos + 12);
                PyBuffer_Release(&view);
                return file_result(FILE_NEED, found, pos);
            }
            if (pos < base)
                goto pixels_by_python;
            const uint8_t *p = buf + (pos - base);
            long long group = u16(p, little), tag = (group << 16) | u16(p + 2, little), length, hdr = 8;
            if (implicit) {
                length = u32(p + 4, little);
            } else {
                int kind = vr_kind(VR(p[4], p[5]));
                if (kind == 2) {
                    length = u32(p + 8, little);
                    hdr = 12;
                } else if (kind == 0 && group != 0xFFFE) {
                    goto pixels_by_python;
                } else {
                    length = u16(p + 6, little);
                }
            }
            if (tag <= last_tag || group == 0xFFFE)
                goto pixels_by_python;
            last_tag = tag;
            if (length == UNDEFINED_LENGTH)
                break;
            pos += hdr + length;
            if (pos > size)
                goto pixels_by_python; /* cut short: Python raises, pydicom confirms */
            if (tag == 0x7FE00008 || tag == 0x7FE00009 || tag == 0x7FE00010)
                break;
        }
    }
    PyBuffer_Release(&view);
    /* a DICOMDIR (its media storage SOP class), or a raw value left: Python decides */
    int dicomdir = PyUnicode_Check(self->media_class) ?
                   PyUnicode_Compare(self->media_class, PyTuple_GET_ITEM(spec, 5)) == 0 : 0;
    if (PyErr_Occurred())
        return NULL;
    if (PyDict_GET_SIZE(self->out) == 0 && !dicomdir) {
        PyObject *record = assemble(PyTuple_GET_ITEM(spec, 4), self->done, self->ts);
        if (record != NULL) {
            PyObject *sop_class = PyTuple_GET_ITEM(record, 3); /* SOPClassUID: a DICOMDIR is skipped */
            if (sop_class == Py_None || PyUnicode_Compare(sop_class, PyTuple_GET_ITEM(spec, 5)) != 0)
                return file_result(FILE_RECORD, record, 0);
            Py_DECREF(record);
        }
        if (PyErr_Occurred())
            return NULL;
    }
    return handover(self, 3, STEP_DONE, self->pos, self->last_tag, 0);
pixels_by_python:
    PyBuffer_Release(&view);
    return handover(self, 2, STEP_DONE, self->resume, -1, 0);
fallback:
    PyBuffer_Release(&view);
    return Py_BuildValue("(iOL)", FILE_FALLBACK, Py_None, 0LL);
error:
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef filewalk_methods[] = {
    {"step", (PyCFunction)filewalk_step, METH_VARARGS,
     "step(buf, base, size) -> (kind, found, skip): go on reading the file whose bytes from offset base buf holds "
     "(see FILE_NEED, FILE_RECORD, FILE_HANDOVER, FILE_FALLBACK)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FileWalkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rcdm.dicom._scan.FileWalk",
    .tp_basicsize = sizeof(FileWalk),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FileWalk(spec): the fast read of one file (meta, top-level walk, the check up to Pixel Data, the "
              "record), stepped with the file's bytes as Python reads them.",
    .tp_new = filewalk_new,
    .tp_dealloc = (destructor)filewalk_dealloc,
    .tp_methods = filewalk_methods,
};

/* The interface reader.py was written against (its _SCAN_API): bumped with it whenever the two change
   together, so a build older than the reader is refused (the Python walk reads) instead of misread. */
#define SCAN_API 2

static int exec_module(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "API", SCAN_API) < 0)
        return -1;
    if (PyType_Ready(&ScannerType) < 0 || PyModule_AddObjectRef(module, "Scanner", (PyObject *)&ScannerType) < 0)
        return -1;
    if (PyType_Ready(&FileWalkType) < 0 || PyModule_AddObjectRef(module, "FileWalk", (PyObject *)&FileWalkType) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "FILE_NEED", FILE_NEED) < 0 ||
        PyModule_AddIntConstant(module, "FILE_RECORD", FILE_RECORD) < 0 ||
        PyModule_AddIntConstant(module, "FILE_HANDOVER", FILE_HANDOVER) < 0 ||
        PyModule_AddIntConstant(module, "FILE_FALLBACK", FILE_FALLBACK) < 0 ||
        PyModule_AddIntConstant(module, "RECORD_FIELDS", RECORD_FIELDS) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "STEP_DONE", STEP_DONE) < 0 ||
        PyModule_AddIntConstant(module, "STEP_NEED", STEP_NEED) < 0 ||
        PyModule_AddIntConstant(module, "STEP_GENERAL", STEP_GENERAL) < 0 ||
        PyModule_AddIntConstant(module, "STEP_ORDER", STEP_ORDER) < 0 ||
        PyModule_AddIntConstant(module, "STEP_UNUSUAL", STEP_UNUSUAL) < 0 ||
        PyModule_AddIntConstant(module, "STEP_FRAMES", STEP_FRAMES) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "rcdm.dicom._scan",
    "Compiled top-level element walk for rcdm.dicom.reader (optional; the reader has a pure-Python twin).",
    0, module_methods, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModuleDef_Init(&module_def); }
