/* Find every occurrence of a few 4-byte patterns in a header, in one pass (rcdm.dicom._tags).
 *
 * The ETL's identity scan looks for ~13 four-byte patterns (little- and big-endian tags of PatientName,
 * PatientBirthDate, AccessionNumber, SpecificCharacterSet, Pixel Data, and the marks of nested values) in up to
 * 64 KiB of each header. Python's bytes.find does one pass per pattern (13 passes); this does one: each
 * position's first two bytes are looked up in a 64 Kibit table of the patterns' first two bytes (runs of
 * zeros and most other bytes fail there), and only a hit compares the 4 bytes with the patterns. The twin is
 * rcdm.dicom.identity._find_all_py; tests/test_dicom_identity.py holds the two equal on random bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_PATTERNS 24

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

static PyMethodDef methods[] = {
    {"find_all", find_all, METH_VARARGS,
     "find_all(buf, patterns, stops) -> (cut, offsets): every occurrence of each 4-byte pattern, in one pass."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tags", "One-pass search for 4-byte patterns.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__tags(void) { return PyModule_Create(&module); }
