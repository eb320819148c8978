/* Find every occurrence of a few 4-byte patterns in a header, in one pass (rcdm.dicom._tags).
 *
 * The ETL's identity scan looks for ~13 four-byte patterns (little- and big-endian tags of PatientName,
 * PatientBirthDate, AccessionNumber, SpecificCharacterSet, Pixel Data, and the marks of nested values) in up to
 * 64 KiB of each header. Python's bytes.find does one pass per pattern (13 passes); this does one, looking
 * each position's 4 bytes up in a small open-addressing table. The pure-Python twin is
 * rcdm.dicom.identity._find_all_py; tests/test_dicom_identity.py holds the two equal on random bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SLOTS 64 /* a power of two, more than twice the patterns allowed */
#define MAX_PATTERNS 24

static inline unsigned slot_of(uint32_t v) { return (unsigned)((v * 2654435761u) >> 26) & (SLOTS - 1); }

/* find_all(buf, patterns, stops) -> (cut, offsets)
 *
 * patterns: a tuple of 4-byte bytes objects; the first ``stops`` of them end the scan: ``cut`` is the offset of
 * the first occurrence of any of them (-1 if none), and only occurrences that end at or before ``cut`` count
 * (as if the others were searched in buf[:cut]). offsets: a tuple with one list per pattern after the stops,
 * the ascending offsets of its occurrences (overlapping ones too, as repeated bytes.find(p, i + 1) gives them).
 */
static PyObject *find_all(PyObject *self, PyObject *args) {
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
    uint32_t keys[SLOTS];
    int owner[SLOTS]; /* pattern index + 1 of each slot; 0: empty */
    memset(owner, 0, sizeof owner);
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *p = PyTuple_GET_ITEM(patterns, k);
        if (!PyBytes_Check(p) || PyBytes_GET_SIZE(p) != 4) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "find_all: each pattern is 4 bytes");
            return NULL;
        }
        uint32_t v;
        memcpy(&v, PyBytes_AS_STRING(p), 4);
        unsigned s = slot_of(v);
        while (owner[s] && keys[s] != v)
            s = (s + 1) & (SLOTS - 1);
        if (!owner[s]) { /* a repeated pattern keeps its first index */
            keys[s] = v;
            owner[s] = (int)k + 1;
        }
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
        uint32_t v;
        memcpy(&v, buf + i, 4);
        unsigned s = slot_of(v);
        while (owner[s]) {
            if (keys[s] == v) {
                int k = owner[s] - 1;
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
                break;
            }
            s = (s + 1) & (SLOTS - 1);
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

static PyMethodDef methods[] = {
    {"find_all", find_all, METH_VARARGS,
     "find_all(buf, patterns, stops) -> (cut, offsets): every occurrence of each 4-byte pattern, in one pass."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tags", "One-pass search for 4-byte patterns.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__tags(void) { return PyModule_Create(&module); }
