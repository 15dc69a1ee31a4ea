/*
 * Memory calls of libiommufd-sim-preload.  mmap() of an iommufd hands the
 * program the region a vIOMMU registered (isim_mmap), and munmap() of it
 * gives it back (isim_munmap); each such mapping holds the iommufd context
 * as a VMA holds the kernel's file.  For all other memory the calls go to
 * libc, and afterwards the simulator is told that the program's mapping of
 * the range changed (its page-by-page record of program memory must not
 * outlive the pages).  MAP_HUGETLB is emulated when the host has no huge
 * pages to give: the mapping is made of ordinary pages, aligned and sized
 * as the huge pages would have been, with a MADV_HUGEPAGE hint, and munmap
 * rounds to the huge page size as hugetlbfs does.  The simulator adopts
 * such memory a huge page at a time, into physically contiguous frames
 * (pl_huge_folio; see docs/kselftest.md).
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim/machine.h"
#include "sim/mm/vm.h"
#include "sim/preload/preload.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_MASK
#define MAP_HUGE_MASK 0x3f
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* A live mmap() of an iommufd; holds its context. */
struct iommufd_map {
	struct iommufd_map *next;
	uintptr_t addr;
	size_t len;		/* page rounded */
	struct pl_ctx *ctx;
};

/* A range of emulated hugetlb memory. */
struct huge_range {
	struct huge_range *next;
	uintptr_t start, end;
	size_t hsz;
};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iommufd_map *iommufd_maps;
static struct huge_range *huge_ranges;
/* Lengths of the lists, read without the lock: most calls need neither. */
static atomic_uint nr_iommufd_maps, nr_huge_ranges;

static size_t page_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) & ~(page - 1);
}

void pl_vm_forget(void *va, size_t len)
{
	struct isim_machine *m = pl_machine_peek();

	if (!m || !len)
		return;
	pl_enter();
	isim_vm_forget(m->vm, (uint64_t)(uintptr_t)va, len);
	pl_leave();
}

/* ------------------------------------------------------ iommufd mmaps */

static void iommufd_map_putback(struct iommufd_map *map)
{
	pthread_mutex_lock(&map_lock);
	map->next = iommufd_maps;
	iommufd_maps = map;
	atomic_fetch_add(&nr_iommufd_maps, 1);
	pthread_mutex_unlock(&map_lock);
}

void *pl_file_mmap(struct pl_file *f, void *addr, size_t len, int prot,
		   int flags, off_t off)
{
	struct iommufd_map *map;
	void *out = NULL;
	int rc;

	if (f->kind != PL_IOMMUFD) {
		errno = ENODEV;	/* event queues and proc files have no mmap */
		return MAP_FAILED;
	}
	/* The region is the simulator's memory: it cannot be moved to @addr. */
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) || off < 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	map = calloc(1, sizeof(*map));
	if (!map) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	pl_enter();
	rc = isim_mmap(f->ctx->ifd, (uint64_t)off, len, prot, flags, &out);
	pl_leave();
	if (rc) {
		free(map);
		errno = -rc;
		return MAP_FAILED;
	}
	map->addr = (uintptr_t)out;
	map->len = page_round(len);
	map->ctx = f->ctx;
	pl_ctx_get(map->ctx);
	iommufd_map_putback(map);
	return out;
}

/*
 * munmap() over iommufd mappings: an exact match is taken out of the list
 * and returned; a range that only overlaps one is -EINVAL (the region is
 * the simulator's memory and cannot be split); NULL when none is involved.
 */
static struct iommufd_map *iommufd_map_take(uintptr_t addr, size_t len,
					    int *err)
{
	struct iommufd_map **pp, *map;
	size_t rlen = page_round(len);

	*err = 0;
	if (!atomic_load(&nr_iommufd_maps))
		return NULL;
	pthread_mutex_lock(&map_lock);
	for (pp = &iommufd_maps; (map = *pp); pp = &map->next) {
		if (map->addr == addr && map->len == rlen) {
			*pp = map->next;
			atomic_fetch_sub(&nr_iommufd_maps, 1);
			break;
		}
		if (addr < map->addr + map->len && map->addr < addr + rlen)
			*err = -EINVAL;
	}
	pthread_mutex_unlock(&map_lock);
	return map;
}

/* ------------------------------------------------------ hugetlb */

static size_t default_huge_size(void)
{
	static _Atomic size_t cached;
	size_t size = atomic_load(&cached);
	char buf[4096], *p;
	ssize_t n;
	int fd;

	if (size)
		return size;
	size = 2u << 20;
	fd = real_open()("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = real_read()(fd, buf, sizeof(buf) - 1);
		real_close()(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strstr(buf, "Hugepagesize:");
			if (p && strtoul(p + 13, NULL, 10))
				size = strtoul(p + 13, NULL, 10) << 10;
		}
	}
	atomic_store(&cached, size);
	return size;
}

static size_t huge_size(int flags)
{
	unsigned shift = ((unsigned)flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;

	return shift ? (size_t)1 << shift : default_huge_size();
}

static void huge_record(uintptr_t start, size_t len, size_t hsz)
{
	struct huge_range *r = calloc(1, sizeof(*r));

	if (!r)
		return;
	r->start = start;
	r->end = start + len;
	r->hsz = hsz;
	pthread_mutex_lock(&map_lock);
	r->next = huge_ranges;
	huge_ranges = r;
	atomic_fetch_add(&nr_huge_ranges, 1);
	pthread_mutex_unlock(&map_lock);
}

/*
 * The folio size of emulated hugetlb memory at @va, 0 elsewhere: the
 * simulator adopts such memory a huge page at a time into contiguous
 * frames, as hugetlbfs would have backed it.  Called under the vm lock.
 */
size_t pl_huge_folio(void *arg, uint64_t va)
{
	struct huge_range *r;
	size_t hsz = 0;

	if (!atomic_load(&nr_huge_ranges))
		return 0;
	pthread_mutex_lock(&map_lock);
	for (r = huge_ranges; r; r = r->next)
		if (va >= r->start && va < r->end) {
			hsz = r->hsz;
			break;
		}
	pthread_mutex_unlock(&map_lock);
	return hsz;
}

/*
 * hugetlbfs semantics for munmap() inside emulated memory: the start must
 * be huge-page aligned and the length rounds up to whole huge pages.
 * Returns the length to unmap, or 0 with errno for a misaligned start.
 */
static size_t huge_unmap_len(uintptr_t addr, size_t len)
{
	struct huge_range *r;
	size_t out = len;

	if (!atomic_load(&nr_huge_ranges))
		return len;
	pthread_mutex_lock(&map_lock);
	for (r = huge_ranges; r; r = r->next) {
		if (addr < r->start || addr >= r->end)
			continue;
		if (addr % r->hsz) {
			out = 0;
			errno = EINVAL;
		} else {
			out = (len + r->hsz - 1) & ~(r->hsz - 1);
		}
		break;
	}
	pthread_mutex_unlock(&map_lock);
	return out;
}

/* Forget [addr, addr + len) as emulated hugetlb memory. */
static void huge_forget(uintptr_t addr, size_t len)
{
	struct huge_range **pp, *r;
	uintptr_t end = addr + len;

	if (!atomic_load(&nr_huge_ranges))
		return;
	pthread_mutex_lock(&map_lock);
	for (pp = &huge_ranges; (r = *pp);) {
		if (end <= r->start || addr >= r->end) {
			pp = &r->next;
			continue;
		}
		if (addr > r->start && end < r->end) {
			/* A hole in the middle: split. */
			struct huge_range *tail = calloc(1, sizeof(*tail));

			if (tail) {
				*tail = *r;
				tail->start = end;
				r->next = tail;
				atomic_fetch_add(&nr_huge_ranges, 1);
			}
			r->end = addr;
			break;
		}
		if (addr > r->start) {
			r->end = addr;
		} else if (end < r->end) {
			r->start = end;
		} else {
			*pp = r->next;
			free(r);
			atomic_fetch_sub(&nr_huge_ranges, 1);
			continue;
		}
		pp = &r->next;
	}
	pthread_mutex_unlock(&map_lock);
}

/* IOMMUFD_SIM_HUGETLB=host turns the emulation off. */
static bool huge_emulation(void)
{
	static atomic_int on = -1;
	int v = atomic_load(&on);

	if (v < 0) {
		const char *env = getenv("IOMMUFD_SIM_HUGETLB");

		v = !(env && !strcmp(env, "host"));
		atomic_store(&on, v);
	}
	return v;
}

/*
 * MAP_HUGETLB failed (no huge pages on the host): map ordinary pages the
 * way hugetlbfs would have placed them.
 */
static void *huge_emulate(bool is64, void *addr, size_t len, int prot,
			  int flags, int fd, off_t off)
{
	size_t hsz = huge_size(flags);
	size_t hlen = (len + hsz - 1) & ~(hsz - 1);
	int flags2 = (int)((unsigned)flags &
			   ~(MAP_HUGETLB | ((unsigned)MAP_HUGE_MASK << MAP_HUGE_SHIFT)));
	uintptr_t base, aligned;
	void *p;

	if (!len || hlen < len) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if ((uintptr_t)addr % hsz) {
			errno = EINVAL;
			return MAP_FAILED;
		}
		p = is64 ? real_mmap64()(addr, hlen, prot, flags2, fd, off) :
			   real_mmap()(addr, hlen, prot, flags2, fd, off);
	} else {
		/* Reserve room to align in, then map over the aligned part. */
		p = real_mmap()(NULL, hlen + hsz, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
				0);
		if (p == MAP_FAILED)
			return p;
		base = (uintptr_t)p;
		aligned = (base + hsz - 1) & ~(uintptr_t)(hsz - 1);
		p = real_mmap()((void *)aligned, hlen, prot, flags2 | MAP_FIXED,
				fd, off);
		if (p == MAP_FAILED) {
			int err = errno;

			real_munmap()((void *)base, hlen + hsz);
			errno = err;
			return p;
		}
		if (aligned > base)
			real_munmap()((void *)base, aligned - base);
		if (base + hsz > aligned)
			real_munmap()((void *)(aligned + hlen),
				      base + hsz - aligned);
	}
	if (p == MAP_FAILED)
		return p;
	(void)madvise(p, hlen, MADV_HUGEPAGE);
	huge_forget((uintptr_t)p, hlen);	/* what MAP_FIXED replaced */
	huge_record((uintptr_t)p, hlen, hsz);
	return p;
}

/* ------------------------------------------------------ the calls */

static void *mmap_common(bool is64, void *addr, size_t len, int prot,
			 int flags, int fd, off_t off)
{
	bool emulated = false;
	struct pl_file *f;
	void *p;
	int err;

	if (pl_in_sim)
		return is64 ? real_mmap64()(addr, len, prot, flags, fd, off) :
			      real_mmap()(addr, len, prot, flags, fd, off);
	if (fd >= 0 && !(flags & MAP_ANONYMOUS) && (f = pl_file_get(fd))) {
		p = pl_file_mmap(f, addr, len, prot, flags, off);
		pl_file_put(f);
		return p;
	}
	p = is64 ? real_mmap64()(addr, len, prot, flags, fd, off) :
		   real_mmap()(addr, len, prot, flags, fd, off);
	err = errno;
	if (p == MAP_FAILED && (flags & MAP_HUGETLB) &&
	    (flags & MAP_ANONYMOUS) && err == ENOMEM && huge_emulation()) {
		p = huge_emulate(is64, addr, len, prot, flags, fd, off);
		err = errno;
		emulated = true;
		if (p != MAP_FAILED)
			len = (len + huge_size(flags) - 1) &
			      ~(huge_size(flags) - 1);
	}
	if (p != MAP_FAILED) {
		if (!emulated && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
			huge_forget((uintptr_t)p, len);
		/* Whatever was at these addresses before is gone. */
		pl_vm_forget(p, len);
	}
	errno = err;
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(false, addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap_common(true, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
	struct iommufd_map *map;
	size_t ulen;
	int rc, err;

	if (pl_in_sim)
		return real_munmap()(addr, len);
	map = iommufd_map_take((uintptr_t)addr, len, &err);
	if (map) {
		pl_enter();
		rc = isim_munmap(map->ctx->ifd, addr, len);
		pl_leave();
		if (rc) {
			iommufd_map_putback(map);
			errno = -rc;
			return -1;
		}
		pl_ctx_put(map->ctx);
		free(map);
		return 0;
	}
	if (err) {
		errno = -err;
		return -1;
	}
	ulen = huge_unmap_len((uintptr_t)addr, len);
	if (!ulen && len)
		return -1;
	rc = real_munmap()(addr, ulen);
	if (!rc) {
		huge_forget((uintptr_t)addr, ulen);
		pl_vm_forget(addr, ulen);
	}
	return rc;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	struct iommufd_map *map;
	void *want = NULL, *p;
	va_list ap;
	int err;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	if (pl_in_sim)
		return real_mremap()(old, old_len, new_len, flags, want);
	map = iommufd_map_take((uintptr_t)old, old_len ? old_len : 1, &err);
	if (map || err) {
		/* The vIOMMU's region stays where it is. */
		if (map)
			iommufd_map_putback(map);
		errno = EINVAL;
		return MAP_FAILED;
	}
	p = real_mremap()(old, old_len, new_len, flags, want);
	if (p != MAP_FAILED) {
		err = errno;
		huge_forget((uintptr_t)old, old_len);
		pl_vm_forget(old, old_len);
		pl_vm_forget(p, new_len);
		errno = err;
	}
	return p;
}

/* ------------------------------------------------------ fork */

static void map_atfork_prepare(void)
{
	pthread_mutex_lock(&map_lock);
}

static void map_atfork_release(void)
{
	pthread_mutex_unlock(&map_lock);
}

__attribute__((constructor)) static void pl_memory_init(void)
{
	pthread_atfork(map_atfork_prepare, map_atfork_release,
		       map_atfork_release);
}
