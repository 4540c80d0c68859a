/* Bracket depth of one piece of a JSON stream: the parser-bomb guard of responder/readers/jsonstream.py,
 * compiled. The rule is the pure-Python one in JsonStream, byte for byte:
 *
 *   opens  = count of '[' and '{' in the piece, closes = count of ']' and '}';
 *   if opens > many: walk the brackets in order from `depth`; too deep if the running depth passes `limit`;
 *   depth = max(0, depth + opens - closes); too deep if that passes `limit`.
 *
 * track(piece, depth, many, limit) returns the new depth, or -1 when the piece nests too deep. The counting
 * loop is written so the compiler can vectorise it, and runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static void count_brackets(const unsigned char *bytes, Py_ssize_t size, Py_ssize_t *opens, Py_ssize_t *closes)
{
    Py_ssize_t open_count = 0, close_count = 0;
    Py_ssize_t at = 0;
    while (at < size) {
        /* Byte-wide sums over blocks of at most 255 bytes cannot overflow, and vectorise well. */
        Py_ssize_t end = at + 255 < size ? at + 255 : size;
        unsigned char block_opens = 0, block_closes = 0;
        for (Py_ssize_t i = at; i < end; i++) {
            unsigned char c = bytes[i];
            block_opens += (unsigned char)((c == '[') | (c == '{'));
            block_closes += (unsigned char)((c == ']') | (c == '}'));
        }
        open_count += block_opens;
        close_count += block_closes;
        at = end;
    }
    *opens = open_count;
    *closes = close_count;
}

static int walk_too_deep(const unsigned char *bytes, Py_ssize_t size, long long depth, long long limit)
{
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = bytes[i];
        if (c == '[' || c == '{') {
            if (++depth > limit) {
                return 1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

static PyObject *track(PyObject *module, PyObject *args)
{
    Py_buffer piece;
    long long depth, many, limit;
    if (!PyArg_ParseTuple(args, "y*LLL:track", &piece, &depth, &many, &limit)) {
        return NULL;
    }
    /* Depths are small (JsonStream passes at most its limit); bounding them keeps every sum below in range. */
    if (depth < 0 || many < 0 || limit < 0 || depth > INT32_MAX || many > INT32_MAX || limit > INT32_MAX) {
        PyBuffer_Release(&piece);
        PyErr_SetString(PyExc_ValueError, "depth, many and limit must be between 0 and 2**31 - 1");
        return NULL;
    }
    Py_ssize_t opens = 0, closes = 0;
    int too_deep = 0;
    Py_BEGIN_ALLOW_THREADS
    count_brackets((const unsigned char *)piece.buf, piece.len, &opens, &closes);
    if (opens > many) {
        too_deep = walk_too_deep((const unsigned char *)piece.buf, piece.len, depth, limit);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&piece);
    if (too_deep) {
        return PyLong_FromLong(-1);
    }
    depth = depth + (long long)opens - (long long)closes;
    if (depth < 0) {
        depth = 0;
    }
    return PyLong_FromLongLong(depth > limit ? -1 : depth);
}

static PyMethodDef methods[] = {
    {"track", track, METH_VARARGS,
     "track(piece, depth, many, limit) -> new depth, or -1 if the piece nests deeper than limit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_brackets", "Bracket depth of JSON pieces (the parser-bomb guard), compiled.", -1, methods,
};

PyMODINIT_FUNC PyInit__brackets(void)
{
    return PyModule_Create(&module);
}
