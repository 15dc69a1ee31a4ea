/*
 * File descriptors the iommufd hands out besides itself, and the vEVENTQ
 * object that is their first user.  The kernel gives each event queue an
 * anonymous-inode file; the simulator gives it a real eventfd, kept
 * readable exactly while the queue has something to read, so a program
 * can poll() it unchanged and reads it through isim_read().  The same
 * header declares the core side of vIOMMU mmap regions (mmap.c), which
 * like the fds pin objects on behalf of the program and are let go at
 * close.  Kernel counterparts: drivers/iommu/iommufd/eventq.c, main.c
 * (mmap) and driver.c (mmap region registration).
 */
#ifndef ISIM_IOMMUFD_EVENTQ_H
#define ISIM_IOMMUFD_EVENTQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"

/* What an fd does, on behalf of the object behind it. */
struct iommufd_anon_fd_ops {
	/* Copy out at most @count bytes to the caller's @buf; never blocks. */
	ssize_t (*read)(struct iommufd_object *obj, void *buf, size_t count);
	/* NULL: write(2) answers EINVAL, as for a file without ->write. */
	ssize_t (*write)(struct iommufd_object *obj, const void *buf,
			 size_t count);
	/*
	 * The fd is going away (last close): forget the anon fd, because
	 * its eventfd is closed right after and the number may be reused.
	 */
	void (*release)(struct iommufd_object *obj);
};

/*
 * One fd.  It holds a `users` reference on @obj from creation to its final
 * release, as the kernel's file does on its event queue.
 */
struct iommufd_anon_fd {
	int efd;			/* the eventfd: the fd number we hand out */
	struct iommufd_ctx *ictx;
	struct iommufd_object *obj;
	const struct iommufd_anon_fd_ops *ops;
	/* The fd table's reference plus one per call in flight. */
	atomic_int refs;
	bool readable;			/* eventfd counter > 0; owner-serialized */
	struct iommufd_anon_fd *next;	/* ictx->anon_fds, under anon_fds_lock */
};

/*
 * Make the fd for @obj: an eventfd (close-on-exec, non-blocking) and a
 * `users` ref on @obj.  Not yet visible to isim_read(): publish it with
 * iommufd_anon_fd_install() once the object is finalized, or drop it with
 * iommufd_anon_fd_discard().
 */
struct iommufd_anon_fd *iommufd_anon_fd_alloc(struct iommufd_ctx *ictx,
					      struct iommufd_object *obj,
					      const struct iommufd_anon_fd_ops *ops);
void iommufd_anon_fd_install(struct iommufd_anon_fd *afd);
/* Undo of a never-installed fd: releases it at once (fput + put_unused_fd). */
void iommufd_anon_fd_discard(struct iommufd_anon_fd *afd);
/*
 * poll() readiness: the counter is made non-zero or drained to match
 * @readable.  The owner calls it under its own lock, which serializes it.
 */
void iommufd_anon_fd_signal(struct iommufd_anon_fd *afd, bool readable);
/* Close every fd still open: the start of the context's release. */
void iommufd_anon_fds_release_all(struct iommufd_ctx *ictx);

/* One queued event: the header is stamped on append; payload follows it. */
struct iommufd_vevent_link {
	struct iommufd_vevent_link *prev, *next;
};

struct iommufd_vevent {
	struct iommufd_vevent_link node;
	size_t data_len;
	/* header and event_data are copied out together: keep them adjacent. */
	struct iommufd_vevent_header header;
	unsigned char event_data[];
};

struct iommufd_veventq {
	struct iommufd_object obj;
	struct iommufd_viommu *viommu;		/* holds a users ref */
	struct iommufd_veventq *next;		/* viommu->veventqs */
	unsigned type;				/* enum iommu_veventq_type */
	uint32_t depth;
	pthread_mutex_t mutex;			/* everything below */
	struct iommufd_vevent_link deliver;	/* oldest first */
	/*
	 * The single lost-events marker: linked at the tail of @deliver
	 * while events have been dropped since the last read, else unlinked.
	 */
	struct iommufd_vevent_link lost_events;
	uint32_t lost_sequence;
	uint32_t sequence;			/* next stamp, 0 .. INT_MAX */
	uint32_t num_events;			/* normal records in @deliver */
	struct iommufd_anon_fd *afd;		/* NULL once the fd is closed */
	/* afd != NULL, readable without the mutex by the invariant check. */
	atomic_bool fd_open;
};

int iommufd_veventq_alloc(struct iommufd_ucmd *ucmd);
void iommufd_veventq_destroy(struct iommufd_object *obj);
void iommufd_veventq_abort(struct iommufd_object *obj);
void iommufd_veventq_for_each_ref(struct iommufd_object *obj,
				  iommufd_ref_fn fn, void *arg);
int iommufd_veventq_check(struct iommufd_object *obj, char *buf, size_t len,
			  size_t *used);
/* Tests: put the sequence counter anywhere in 0 .. INT_MAX. */
void iommufd_veventq_set_sequence(struct iommufd_veventq *veventq,
				  uint32_t sequence);

/*
 * vIOMMU mmap regions (mmap.c).  Each live isim_mmap() holds a `users'
 * ref on the region's vIOMMU; these report and drop those refs.
 */
void iommufd_mmap_for_each_ref(struct iommufd_ctx *ictx, iommufd_ref_fn fn,
			       void *arg);
void iommufd_mmaps_release_all(struct iommufd_ctx *ictx);

#endif
