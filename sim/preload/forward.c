/*
 * The fork server of libiommufd-sim-preload: how a forked child's ioctls on
 * an iommufd it inherited reach the one context in the process that opened
 * /dev/iommu.  That process runs a server thread on an abstract unix
 * socket; the contexts it opened are registered here, and a child sends
 * each ioctl on such a context there (pl_fwd_ioctl) to be run with the
 * user copies aimed at the child's memory.  preload.c registers contexts on
 * open, unlinks them on release, forwards from ioctl() and holds
 * pl_fwd_lock across fork().
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sim/lib/uaccess.h"
#include "sim/preload/preload.h"

/* ------------------------------------------------------- fork server */

/*
 * In the kernel an iommufd is one object that every process holding the
 * fd reaches: a child of fork() that maps through an inherited iommufd
 * changes the parent's IOAS, and its pages are pinned from the child's mm.
 * Here a context lives in the memory of the process that opened
 * /dev/iommu, and a child only has a stale copy of it.  So that process
 * runs a server thread on an abstract unix socket, and a process that
 * holds an iommufd it did not open (ctx->owner is not its pid) sends each
 * ioctl on it there: the context's id, the request, the argument pointer
 * (in the sender's memory) and its pid, which SO_PEERCRED confirms.  The
 * server runs the ioctl with the thread's user copies aimed at the
 * sender's memory (isim_uaccess_set_pid) and answers with the result.
 * Pages the sender maps remember its pid (pages.c).
 *
 * Only ioctls on the iommufd itself are sent; read/write/mmap on fds the
 * simulator handed out, and fds that a sent ioctl makes (an access fd,
 * say), stay with the child's copy or are not the child's to use.  When
 * the server cannot be reached (its process is gone) the child falls back
 * to its own copy, as before.
 */
pthread_mutex_t pl_fwd_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t srv_pid;		/* the process the server thread runs in */
static uint64_t srv_nonce;	/* in its address; 0: no server */
static uint64_t srv_next_id;
static struct pl_ctx *srv_ctxs;	/* srv_pid's live contexts */

struct pl_srv_req {
	uint64_t ctx_id;
	uint64_t request;
	uint64_t arg;
	int32_t pid;
	int32_t pad;
};

static socklen_t srv_addr(pid_t owner, uint64_t nonce, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays 0: the abstract namespace, nothing to unlink. */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
		     "iommufd-sim.%d.%016" PRIx64, (int)owner, nonce);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* A reference to our live context @id, or NULL. */
static struct pl_ctx *srv_ctx_get(uint64_t id)
{
	struct pl_ctx *ctx;

	pthread_mutex_lock(&pl_fwd_lock);
	for (ctx = srv_ctxs; ctx; ctx = ctx->next) {
		int refs = atomic_load(&ctx->refs);

		if (ctx->id != id)
			continue;
		/* Not one whose last reference is being dropped. */
		while (refs && !atomic_compare_exchange_weak(&ctx->refs, &refs,
							     refs + 1))
			;
		if (!refs)
			ctx = NULL;
		break;
	}
	pthread_mutex_unlock(&pl_fwd_lock);
	return ctx;
}

void pl_fwd_unlink(struct pl_ctx *ctx)
{
	pthread_mutex_lock(&pl_fwd_lock);
	for (struct pl_ctx **pp = &srv_ctxs; *pp; pp = &(*pp)->next) {
		if (*pp == ctx) {
			*pp = ctx->next;
			break;
		}
	}
	pthread_mutex_unlock(&pl_fwd_lock);
}

static bool io_full(int s, void *buf, size_t len, bool out)
{
	while (len) {
		ssize_t n = out ? send(s, buf, len, MSG_NOSIGNAL) :
				  recv(s, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf = (char *)buf + n;
		len -= (size_t)n;
	}
	return true;
}

static void srv_serve(int c)
{
	struct pl_srv_req req;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct pl_ctx *ctx;
	int32_t rc = -EBADF;

	if (!io_full(c, &req, sizeof(req), false))
		return;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.pid != req.pid || cred.uid != getuid()) {
		rc = -EPERM;
	} else if ((ctx = srv_ctx_get(req.ctx_id))) {
		pid_t saved = isim_uaccess_set_pid(req.pid);

		rc = isim_ioctl(ctx->ifd, (unsigned long)req.request,
				(void *)(uintptr_t)req.arg);
		isim_uaccess_set_pid(saved);
		pl_ctx_put(ctx);
	}
	io_full(c, &rc, sizeof(rc), true);
}

static void *srv_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	/* Everything this thread does goes straight to libc. */
	pl_enter();
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		srv_serve(c);
		real_close()(c);
	}
	return NULL;
}

/* Start this process's server if it has none; its nonce, or 0. */
static uint64_t srv_start(void)
{
	pid_t self = getpid();
	struct sockaddr_un sa;
	struct timespec ts;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t thr;
	uint64_t nonce;
	int lfd, err;

	pthread_mutex_lock(&pl_fwd_lock);
	if (srv_pid == self)
		goto out;
	/* A child's copy: the contexts and the server are its parent's. */
	srv_pid = self;
	srv_nonce = 0;
	srv_ctxs = NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	nonce = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
		((uint64_t)self << 40) ^ (uintptr_t)&sa;
	nonce |= 1;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		goto out;
	if (bind(lfd, (struct sockaddr *)&sa, srv_addr(self, nonce, &sa)) ||
	    listen(lfd, 64)) {
		real_close()(lfd);
		goto out;
	}
	/* No signal of the program's is delivered to the server thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&thr, &attr, srv_main, (void *)(intptr_t)lfd);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		real_close()(lfd);
		goto out;
	}
	srv_nonce = nonce;
out:
	nonce = srv_nonce;
	pthread_mutex_unlock(&pl_fwd_lock);
	return nonce;
}

/* Make @ctx, just opened here, reachable from our children. */
void pl_fwd_register(struct pl_ctx *ctx)
{
	ctx->server = srv_start();
	ctx->owner = getpid();
	pthread_mutex_lock(&pl_fwd_lock);
	ctx->id = ++srv_next_id;
	ctx->next = srv_ctxs;
	srv_ctxs = ctx;
	pthread_mutex_unlock(&pl_fwd_lock);
}

/*
 * Run an ioctl on @ctx, which another process opened, in that process.
 * False when its server cannot be reached; *@rc is the result otherwise.
 */
bool pl_fwd_ioctl(struct pl_ctx *ctx, unsigned long request, void *arg,
		  int *rc)
{
	struct pl_srv_req req = {
		.ctx_id = ctx->id,
		.request = request,
		.arg = (uintptr_t)arg,
		.pid = getpid(),
	};
	struct sockaddr_un sa;
	socklen_t len;
	int32_t r;
	bool ok = false;
	int s;

	if (!ctx->server)
		return false;
	len = srv_addr(ctx->owner, ctx->server, &sa);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	if (!connect(s, (struct sockaddr *)&sa, len)) {
		ok = true;
		if (io_full(s, &req, sizeof(req), true) &&
		    io_full(s, &r, sizeof(r), false))
			*rc = r;
		else
			*rc = -EIO;	/* the server went away meanwhile */
	}
	real_close()(s);
	return ok;
}
