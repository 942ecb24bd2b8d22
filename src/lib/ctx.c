#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "ctx.h"
#include "err.h"
#include "mem.h"
#include "banned.h"

ocibuild_ctx *ocibuild_ctx_new(void)
{
	ocibuild_ctx *ctx = oci_calloc(1, sizeof(ocibuild_ctx));

	if (ctx) {
		pthread_mutex_init(&ctx->progress_mu, NULL);
		ctx->lock_timeout = OCI_LOCK_TIMEOUT_DEFAULT_S;
	}
	return ctx;
}

void ocibuild_ctx_free(ocibuild_ctx *ctx)
{
	if (!ctx)
		return;
	pthread_mutex_destroy(&ctx->progress_mu);
	oci_free(ctx);
}

void ocibuild_ctx_set_progress(ocibuild_ctx *ctx, ocibuild_progress_fn fn, void *userdata)
{
	ctx->progress = fn;
	ctx->progress_userdata = userdata;
}

void oci_progress(ocibuild_ctx *ctx, ocibuild_event_kind kind, const char *digest,
		  int64_t size, uint64_t done, const char *ref)
{
	ocibuild_event ev = { kind, digest, size, done, ref };

	if (!ctx || !ctx->progress)
		return;
	pthread_mutex_lock(&ctx->progress_mu);
	ctx->progress(ctx->progress_userdata, &ev);
	pthread_mutex_unlock(&ctx->progress_mu);
}

void ocibuild_ctx_set_log(ocibuild_ctx *ctx, ocibuild_log_fn fn, void *userdata)
{
	ctx->log = fn;
	ctx->log_userdata = userdata;
}

void ocibuild_ctx_set_cancel(ocibuild_ctx *ctx, ocibuild_cancel_fn fn, void *userdata)
{
	ctx->cancel = fn;
	ctx->cancel_userdata = userdata;
}

void ocibuild_ctx_set_jobs(ocibuild_ctx *ctx, int jobs)
{
	ctx->jobs = jobs < 0 ? 0 : jobs;
}

void ocibuild_ctx_set_lock_timeout(ocibuild_ctx *ctx, unsigned seconds)
{
	ctx->lock_timeout = seconds;
}

void oci_log(ocibuild_ctx *ctx, ocibuild_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!ctx || !ctx->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&ctx->progress_mu);
	ctx->log(ctx->log_userdata, level, line);
	pthread_mutex_unlock(&ctx->progress_mu);
}

int oci_ctx_threads(const ocibuild_ctx *ctx)
{
	long n;

	if (ctx->jobs > 0)
		return ctx->jobs;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	return (int)n;
}

int oci_ctx_cancelled(ocibuild_ctx *ctx, ocibuild_error *err)
{
	if (oci_ctx_stop(ctx))
		return oci_err(err, OCIBUILD_ERR_CANCELLED, 0, "interrupted");
	return 0;
}

int oci_ctx_stop(void *ud)
{
	ocibuild_ctx *ctx = ud;

	return __atomic_load_n(&ctx->halt, __ATOMIC_ACQUIRE) ||
	       (ctx->cancel && ctx->cancel(ctx->cancel_userdata));
}

void oci_ctx_halt(ocibuild_ctx *ctx, int on)
{
	__atomic_store_n(&ctx->halt, on, __ATOMIC_RELEASE);
}

void ocibuild_ctx_set_request_timeout(ocibuild_ctx *ctx, long seconds)
{
	ctx->request_timeout_s = seconds < 0 ? 0 : seconds;
}
