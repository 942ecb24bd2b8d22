/* A parallel for: the same function over the indices 0..n-1 on a few
 * threads, for work whose items are independent and whose results go to a
 * slot of their own (so that nothing depends on which thread did what). */
#ifndef OCI_PAR_H
#define OCI_PAR_H
#include <stddef.h>

/* the most threads oci_par_for starts, the calling one included */
#define OCI_PAR_MAX_THREADS 64

/* fn(ud, i) for each i in [0, n) on up to `threads` threads (at most
 * OCI_PAR_MAX_THREADS), the calling thread one of them. Indices are taken
 * in increasing order and every index taken is run, so when fn returns < 0
 * for i, no index after it is taken any more, and every one before it has
 * been run when oci_par_for returns. A thread that can not be started
 * leaves its share to the others. */
void oci_par_for(size_t n, int threads, int (*fn)(void *ud, size_t i), void *ud);
#endif
