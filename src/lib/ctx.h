/* The context object: everything a library call needs from its caller. */
#ifndef OCI_CTX_H
#define OCI_CTX_H
#include <pthread.h>
#include "ocibuild/ocibuild.h"

/* how long a layout writer waits for the lock unless told otherwise */
#define OCI_LOCK_TIMEOUT_DEFAULT_S 120

struct ocibuild_ctx {
	ocibuild_log_fn log;
	void *log_userdata;
	ocibuild_cancel_fn cancel;
	void *cancel_userdata;
	int jobs;
	long request_timeout_s; /* 0: the registry module's defaults */
	unsigned lock_timeout; /* seconds a layout writer waits for the lock */
	ocibuild_progress_fn progress;
	void *progress_userdata;
	pthread_mutex_t progress_mu;
	/* set (oci_ctx_halt) when a call has failed while work it started
	 * still runs on another thread: that work stops as if cancelled */
	int halt;
};

void oci_progress(ocibuild_ctx *ctx, ocibuild_event_kind kind, const char *digest,
		  int64_t size, uint64_t done, const char *ref);

void oci_log(ocibuild_ctx *ctx, ocibuild_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Worker threads to use: ctx->jobs, or the number of online CPUs. */
int oci_ctx_threads(const ocibuild_ctx *ctx);
int oci_ctx_cancelled(ocibuild_ctx *ctx, ocibuild_error *err);
/* Whether work for ctx should stop: the caller's cancel callback says so,
 * or the ctx is halted. The shape of a cancel callback (ctx as userdata). */
int oci_ctx_stop(void *ctx);
/* Halt (1) the work of ctx left on other threads, or let it go on (0). */
void oci_ctx_halt(ocibuild_ctx *ctx, int on);
#endif
