#include <pthread.h>
#include <stdatomic.h>

#include "par.h"
#include "banned.h"

struct par {
	size_t n;
	atomic_size_t next;
	atomic_int stop;
	int (*fn)(void *ud, size_t i);
	void *ud;
};

static void *par_worker(void *arg)
{
	struct par *p = arg;
	size_t i;

	while (!atomic_load(&p->stop) && (i = atomic_fetch_add(&p->next, 1)) < p->n)
		if (p->fn(p->ud, i) < 0)
			atomic_store(&p->stop, 1);
	return NULL;
}

void oci_par_for(size_t n, int threads, int (*fn)(void *ud, size_t i), void *ud)
{
	struct par p;
	pthread_t tid[OCI_PAR_MAX_THREADS];
	size_t t, started = 0, want = threads < 1 ? 1 : (size_t)threads;

	if (!n)
		return;
	p.n = n;
	atomic_init(&p.next, 0);
	atomic_init(&p.stop, 0);
	p.fn = fn;
	p.ud = ud;
	if (want > OCI_PAR_MAX_THREADS)
		want = OCI_PAR_MAX_THREADS;
	if (want > n)
		want = n;
	for (t = 1; t < want; t++) {
		if (pthread_create(&tid[started], NULL, par_worker, &p))
			break; /* fewer threads: the others do the rest */
		started++;
	}
	par_worker(&p);
	for (t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
}
