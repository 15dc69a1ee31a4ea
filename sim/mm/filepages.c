/*
 * File (memfd) pages for isim_vm_pin_file, the kernel's memfd_pin_folios.
 * Pages are keyed by (dev, ino, page index) and reached through 2 MiB
 * shared mappings of the file ("windows") that give their frames host
 * bytes; a page keeps its frame only while pinned, so the frames carry the
 * window's owner tag and the release hook in vm.c hands their deaths back
 * here.  A window goes with its last frame, a file with its last window.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "sim/lib/fault.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm_private.h"

/* ------------------------------------------------------------ files */

static void file_release(struct isim_vm *vm, struct vm_file *file)
{
	struct vm_file **pp = &vm->files;

	while (*pp != file)
		pp = &(*pp)->next;
	*pp = file->next;
	vm_hash_fini(&file->pages);
	free(file);
}

void vm_window_release(struct isim_vm *vm, struct window *w)
{
	struct vm_file *file = w->file;
	struct window **pp = &file->windows;

	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	munmap(w->base, w->len);
	isim_idr_erase(&vm->owners, w->own.id);
	free(w);
	if (!file->windows && !file->busy)
		file_release(vm, file);
}

/* ------------------------------------------------------- file pages */

struct window *vm_window_find(struct vm_file *file, uint64_t idx)
{
	for (struct window *w = file->windows; w; w = w->next)
		if (idx >= w->first && idx - w->first < w->npages)
			return w;
	return NULL;
}

static int window_new(struct isim_vm *vm, struct vm_file *file, int fd,
		      uint64_t idx, bool writable, struct window **out)
{
	size_t len = SZ_2M > vm->page_size ? SZ_2M : vm->page_size;
	uint64_t first = idx & ~((uint64_t)(len >> vm->shift) - 1);
	struct window *w;
	void *base = MAP_FAILED;
	int rc;

	if (isim_should_fail())
		return -ENOMEM;
	w = isim_kzalloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (writable)
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			    (off_t)(first << vm->shift));
	if (base == MAP_FAILED) {
		/* Sealed against writes, or opened read-only. */
		writable = false;
		base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd,
			    (off_t)(first << vm->shift));
	}
	if (base == MAP_FAILED) {
		rc = -EFAULT;
		goto err_free;
	}
	w->own.kind = OWN_WINDOW;
	rc = isim_idr_alloc(&vm->owners, w, 1, 0x7fffffff, &w->own.id);
	if (rc)
		goto err_unmap;
	w->file = file;
	w->first = first;
	w->npages = len >> vm->shift;
	w->base = base;
	w->len = len;
	w->writable = writable;
	w->next = file->windows;
	file->windows = w;
	*out = w;
	return 0;
err_unmap:
	munmap(base, len);
err_free:
	free(w);
	return rc;
}

static int file_page_new(struct isim_vm *vm, struct vm_file *file, int fd,
			 uint64_t idx, bool writable, uint64_t *pfn)
{
	struct window *w = vm_window_find(file, idx);
	int rc;

	if (!w) {
		rc = window_new(vm, file, fd, idx, writable, &w);
		if (rc)
			return rc;
	}
	rc = isim_phys_alloc(vm->phys, 0, pfn);
	if (rc) {
		if (!w->alive)
			vm_window_release(vm, w);
		return rc;
	}
	/* From here the frame's death (the put below) settles the window. */
	w->alive++;
	isim_phys_set_host_run(vm->phys, *pfn, 1,
			       w->base + ((idx - w->first) << vm->shift),
			       w->writable ? 0 : ISIM_HOST_RDONLY, w->own.id);
	rc = vm_hash_insert(&file->pages, idx, *pfn | TENTATIVE);
	if (rc)
		isim_phys_put(vm->phys, *pfn);
	return rc;
}

static int file_get(struct isim_vm *vm, const struct stat *st,
		    struct vm_file **out)
{
	struct vm_file *file;

	for (file = vm->files; file; file = file->next)
		if (file->dev == st->st_dev && file->ino == st->st_ino)
			goto found;
	file = isim_kzalloc(sizeof(*file));
	if (!file)
		return -ENOMEM;
	file->dev = st->st_dev;
	file->ino = st->st_ino;
	file->next = vm->files;
	vm->files = file;
found:
	file->busy++;
	*out = file;
	return 0;
}

static void file_put(struct isim_vm *vm, struct vm_file *file)
{
	if (!--file->busy && !file->windows)
		file_release(vm, file);
}

/*
 * Commit or undo the pages this call gave frames to.  A committed page
 * drops its allocation reference: from now on only pins keep it.  An
 * undone one drops it too, and dies, which the release hook settles.
 */
static void settle_file(struct isim_vm *vm, struct vm_file *file,
			uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct vm_slot *slot = vm_hash_find(&file->pages, first + i);
		uint64_t pfn;

		if (!slot || !(slot->val & TENTATIVE))
			continue;
		pfn = slot->val & ~TENTATIVE;
		slot->val = pfn;
		isim_phys_put(vm->phys, pfn);
	}
}

int isim_vm_pin_file(struct isim_vm *vm, int fd, uint64_t offset,
		     size_t npages, bool write, uint64_t *pfns)
{
	uint64_t first, fpages;
	struct vm_file *file;
	struct stat st;
	bool writable;
	size_t i = 0;
	int fl, rc;

	if (fstat(fd, &st))
		return errno == EBADF ? -EBADF : -EINVAL;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (offset & (vm->page_size - 1))
		return -EINVAL;
	if (!npages)
		return 0;
	first = offset >> vm->shift;
	fpages = ((uint64_t)st.st_size + vm->page_size - 1) >> vm->shift;
	if (first >= fpages || npages > fpages - first)
		return -EFAULT;
	fl = fcntl(fd, F_GETFL);
	writable = fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
	if (write && !writable)
		return -EFAULT;
	if (isim_should_fail())
		return -ENOMEM;

	pthread_mutex_lock(&vm->lock);
	rc = file_get(vm, &st, &file);
	if (rc)
		goto out_unlock;
	for (i = 0; i < npages; i++) {
		struct vm_slot *slot = vm_hash_find(&file->pages, first + i);

		if (slot)
			pfns[i] = slot->val & ~TENTATIVE;
		else
			rc = file_page_new(vm, file, fd, first + i, writable,
					   &pfns[i]);
		if (rc)
			break;
		/* A window mapped through a read-only fd earlier. */
		if (write && !vm_window_find(file, first + i)->writable) {
			rc = -EFAULT;
			i++;
			break;
		}
	}
	if (!rc)
		rc = isim_phys_pin_pfns(vm->phys, pfns, npages);
	settle_file(vm, file, first, i);
	file_put(vm, file);
out_unlock:
	pthread_mutex_unlock(&vm->lock);
	vm_trace(vm, "mm.pin_file",
		 "ino=%" PRIu64 " off=%#" PRIx64 " n=%zu rc=%d",
		 (uint64_t)st.st_ino, offset, npages, rc);
	return rc;
}
