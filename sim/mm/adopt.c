/*
 * Ordinary program memory, for pins outside isim_mem_alloc regions.  Such
 * memory is checked once per pin call against the kernel's view of the
 * VMAs (the PROCMAP_QUERY ioctl on /proc/self/maps where the kernel has
 * it, else a parse of that file) and adopted page by page into a VA -> PFN
 * map with the program's VA as the frame's host address; adopted frames
 * then live as long as the VA does, until the program unmaps it
 * (isim_vm_forget) or an isim_mem_alloc region takes its place.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sim/lib/fault.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm_private.h"

/* ------------------------------------------------------- VMA checks */

/* The kernel's struct procmap_query (Linux 6.11+); our headers may lack it. */
struct isim_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};

#define ISIM_PROCMAP_QUERY _IOWR('f', 17, struct isim_procmap_query)
#define ISIM_VMA_READ 0x1
#define ISIM_VMA_WRITE 0x2

/*
 * One ioctl per VMA instead of formatting the whole map.  The fd names the
 * mm it was opened in, so a child after fork() opens its own.
 */
static int vma_check_query(struct isim_vm *vm, uint64_t cur, uint64_t end,
			   bool write)
{
	pid_t pid = getpid();

	if (vm->maps_fd < 0 || vm->maps_pid != pid) {
		if (vm->maps_fd >= 0)
			close(vm->maps_fd);
		vm->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		vm->maps_pid = pid;
		if (vm->maps_fd < 0)
			return -ENOTTY;
	}
	while (cur < end) {
		struct isim_procmap_query q = {
			.size = sizeof(q),
			.query_addr = cur,
		};

		if (ioctl(vm->maps_fd, ISIM_PROCMAP_QUERY, &q)) {
			if (errno == ENOTTY || errno == EINVAL ||
			    errno == EOPNOTSUPP)
				return -ENOTTY;
			return -EFAULT;
		}
		if (q.vma_start > cur || q.vma_end <= cur ||
		    !(q.vma_flags & ISIM_VMA_READ) ||
		    (write && !(q.vma_flags & ISIM_VMA_WRITE)))
			return -EFAULT;
		cur = q.vma_end;
	}
	return 0;
}

/* One maps line: 1 = range covered, 0 = keep going, -EFAULT = not. */
static int maps_line(const char *p, uint64_t *cur, uint64_t end, bool write)
{
	uint64_t lo, hi;
	char *q;

	lo = strtoull(p, &q, 16);
	if (*q != '-')
		return 0;
	hi = strtoull(q + 1, &q, 16);
	if (*q != ' ' || hi <= *cur)
		return 0;
	if (lo > *cur || q[1] != 'r' || (write && q[2] != 'w'))
		return -EFAULT;
	*cur = hi;
	return *cur >= end ? 1 : 0;
}

static int vma_check_parse(uint64_t cur, uint64_t end, bool write)
{
	char buf[4096];
	size_t have = 0;
	bool skip = false;
	int fd, rc = 0;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -EFAULT;
	while (!rc) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *p = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf[have] = 0;
			if (have && !skip)
				rc = maps_line(buf, &cur, end, write);
			break;
		}
		have += (size_t)n;
		buf[have] = 0;
		while (!rc &&
		       (nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
			*nl = 0;
			if (!skip)
				rc = maps_line(p, &cur, end, write);
			skip = false;
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		/* A line longer than the buffer: its head holds the range. */
		if (have == sizeof(buf) - 1) {
			if (!skip)
				rc = maps_line(buf, &cur, end, write);
			skip = true;
			have = 0;
		}
	}
	close(fd);
	return rc == 1 ? 0 : -EFAULT;
}

/* GUP's answer for [start, end): mapped, readable, writable if @write. */
int vm_vma_check(struct isim_vm *vm, uint64_t start, uint64_t end,
		 bool write)
{
	int rc = -ENOTTY;

	pthread_mutex_lock(&vm->maps_lock);
	if (vm->maps_mode == MAPS_QUERY) {
		rc = vma_check_query(vm, start, end, write);
		if (rc == -ENOTTY)
			vm->maps_mode = MAPS_PARSE;
	}
	pthread_mutex_unlock(&vm->maps_lock);
	if (rc == -ENOTTY)
		rc = vma_check_parse(start, end, write);
	return rc;
}

/* ---------------------------------------------------- adopted pages */

static struct adopt_chunk *chunk_find(const struct isim_vm *vm, uint64_t vpn)
{
	struct vm_slot *slot = vm_hash_find(&vm->adopted, vpn >> CHUNK_SHIFT);

	return slot ? (struct adopt_chunk *)(uintptr_t)slot->val : NULL;
}

uint64_t *vm_cursor_ent(const struct isim_vm *vm, struct chunk_cursor *cc,
			uint64_t vpn)
{
	if (vpn >> CHUNK_SHIFT != cc->key) {
		cc->key = vpn >> CHUNK_SHIFT;
		cc->chunk = chunk_find(vm, vpn);
	}
	return cc->chunk ? &cc->chunk->ent[vpn & (CHUNK_PAGES - 1)] : NULL;
}

/* Forget the frame of @vpn, which has one; an emptied chunk goes. */
void vm_adopt_drop(struct isim_vm *vm, struct chunk_cursor *cc,
		   uint64_t vpn)
{
	uint64_t *ent = vm_cursor_ent(vm, cc, vpn), pfn = ent_pfn(*ent);
	struct adopt_chunk *c = cc->chunk;

	*ent = 0;
	vm->nadopted--;
	if (!--c->count) {
		vm_hash_remove(&vm->adopted,
			       vm_hash_find(&vm->adopted, vpn >> CHUNK_SHIFT));
		free(c);
		cc->key = UINT64_MAX;
		cc->chunk = NULL;
	}
	isim_phys_put(vm->phys, pfn);
}

/* Record @pfn, an allocated frame, as the frame of @vpn, which has none. */
static int adopt_frame(struct isim_vm *vm, struct chunk_cursor *cc,
		       uint64_t vpn, uint64_t pfn, uint64_t mark)
{
	struct adopt_chunk *c;
	int rc;

	/* Program memory may vanish under us: no DIRECT copies. */
	isim_phys_set_host_run(vm->phys, pfn, 1,
			       (void *)(uintptr_t)(vpn << vm->shift), 0, 0);
	c = chunk_find(vm, vpn);
	if (!c) {
		c = isim_kzalloc(sizeof(*c));
		rc = c ? vm_hash_insert(&vm->adopted, vpn >> CHUNK_SHIFT,
					(uintptr_t)c) : -ENOMEM;
		if (rc) {
			free(c);
			return rc;
		}
	}
	c->ent[vpn & (CHUNK_PAGES - 1)] = (pfn + 1) | mark;
	c->count++;
	vm->nadopted++;
	cc->key = vpn >> CHUNK_SHIFT;
	cc->chunk = c;
	return 0;
}

/*
 * Adopt the whole folio around @vpn into one aligned block of frames.  The
 * page asked for is TENTATIVE like any page its pin call adopts; the other
 * pages of the folio are committed at once, as the folio is mapped whole.
 * Pages that already have a frame keep it and give theirs of the block
 * back.  -ENOMEM when no block that large is free.
 */
static int adopt_folio(struct isim_vm *vm, struct chunk_cursor *cc,
		       uint64_t vpn, unsigned order, uint64_t *pfn)
{
	uint64_t first = vpn & ~((1ull << order) - 1), block;
	int rc = isim_phys_alloc(vm->phys, order, &block);

	if (rc)
		return rc;
	for (uint64_t i = 0; i < (1ull << order); i++) {
		uint64_t *ent = vm_cursor_ent(vm, cc, first + i);

		if ((ent && *ent) ||
		    adopt_frame(vm, cc, first + i, block + i,
				first + i == vpn ? TENTATIVE : 0)) {
			if (first + i == vpn)
				rc = -ENOMEM;
			isim_phys_put(vm->phys, block + i);
		}
	}
	*pfn = block + (vpn - first);
	return rc;
}

/* The folio order of the program memory at @vpn; 0 for small pages. */
static unsigned folio_order(const struct isim_vm *vm, uint64_t vpn)
{
	size_t size;

	if (!vm->folio_fn)
		return 0;
	size = vm->folio_fn(vm->folio_arg, vpn << vm->shift);
	if (size <= vm->page_size || (size & (size - 1)) ||
	    (size >> vm->shift) > (1ull << ISIM_PHYS_MAX_ORDER))
		return 0;
	return (unsigned)__builtin_ctzll(size >> vm->shift);
}

int vm_adopt_page(struct isim_vm *vm, struct chunk_cursor *cc,
		  uint64_t vpn, uint64_t *pfn)
{
	unsigned order = folio_order(vm, vpn);
	int rc;

	if (order && !adopt_folio(vm, cc, vpn, order, pfn))
		return 0;
	rc = isim_phys_alloc(vm->phys, 0, pfn);
	if (rc)
		return rc;
	rc = adopt_frame(vm, cc, vpn, *pfn, TENTATIVE);
	if (rc)
		isim_phys_put(vm->phys, *pfn);
	return rc;
}

void isim_vm_set_folio_fn(struct isim_vm *vm, isim_vm_folio_fn fn, void *arg)
{
	pthread_mutex_lock(&vm->lock);
	vm->folio_fn = fn;
	vm->folio_arg = arg;
	pthread_mutex_unlock(&vm->lock);
}

/* ---------------------------------------------------------- forget */

void vm_forget_locked(struct isim_vm *vm, uint64_t va, size_t npages)
{
	struct chunk_cursor cc = CHUNK_CURSOR_INIT;

	for (size_t i = 0; i < npages && vm->nadopted; i++) {
		uint64_t vpn = (va >> vm->shift) + i;
		uint64_t *ent = vm_cursor_ent(vm, &cc, vpn);

		if (ent && *ent)
			vm_adopt_drop(vm, &cc, vpn);
	}
}

void isim_vm_forget(struct isim_vm *vm, uint64_t va, size_t len)
{
	uint64_t first = va & ~((uint64_t)vm->page_size - 1);
	uint64_t last;

	if (!len || va + len < va)
		return;
	last = (va + len - 1) >> vm->shift;
	pthread_mutex_lock(&vm->lock);
	vm_forget_locked(vm, first, (size_t)(last - (first >> vm->shift) + 1));
	pthread_mutex_unlock(&vm->lock);
}
