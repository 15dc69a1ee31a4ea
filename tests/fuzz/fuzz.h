/*
 * What the libFuzzer harnesses share: a reader that turns the fuzz input
 * into numbers (running dry yields zeros, so every input decodes to some
 * finite program), the abort-with-a-message that reports a finding, the
 * invariant check each harness runs after every step, and for the two
 * hardware-queue harnesses the VMM's setup (a device on a nesting parent),
 * the ioctls they issue and the teardown check.  Harness code may print;
 * the library never does.
 */
#ifndef ISIM_TESTS_FUZZ_H
#define ISIM_TESTS_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "iommufd-sim/sim.h"
#include "sim/machine.h"
#include "sim/mm/phys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint64_t fuzz_bytes(struct fuzz_in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return (uint8_t)fuzz_bytes(in, 1);
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)fuzz_bytes(in, 2);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	return (uint32_t)fuzz_bytes(in, 4);
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_bytes(in, 8);
}

/* Fill @buf from the input; what the input lacks stays zero. */
static inline void fuzz_fill(struct fuzz_in *in, void *buf, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	memset((uint8_t *)buf + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

/* A disagreement with the model or a broken invariant: a finding. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
fuzz_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static inline void fuzz_check(struct isim_machine *m, const char *after)
{
	char report[2048];

	if (isim_check(m, report, sizeof(report)))
		fuzz_die("isim_check after %s: %s", after, report);
}

/* One kind of step of a harness: its name, and how it decodes and acts. */
struct fuzz_act {
	const char *name;
	void (*fn)(struct fuzz_in *in);
};

/* A harness made of acts: its world, what it checks, and its acts. */
struct fuzz_harness {
	void (*setup)(void);
	void (*check)(const char *after);
	void (*teardown)(void);
	const struct fuzz_act *acts;
	size_t nacts;
	unsigned int max;	/* steps per input */
};

/*
 * One input: the world set up, up to @h->max steps, each the act a byte
 * of the input picks followed by the harness's check (told the act's
 * name), and the world torn down.  ISIM_FUZZ_VERBOSE=1 names every step
 * on stderr: a reproducer's story.
 */
static inline int fuzz_harness_run(const struct fuzz_harness *h,
				   const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	bool verbose = getenv("ISIM_FUZZ_VERBOSE");

	h->setup();
	for (unsigned int step = 1; in.left && step <= h->max; step++) {
		const struct fuzz_act *a = &h->acts[fuzz_u8(&in) % h->nacts];

		if (verbose)
			fprintf(stderr, "step %u %s\n", step, a->name);
		a->fn(&in);
		h->check(a->name);
	}
	h->teardown();
	return 0;
}

/* ------------------------------------------ the hardware-queue harnesses */

/*
 * What amd-fuzzer and cmdqv-fuzzer stand on: one device of a vendor IOMMU
 * bound to an open iommufd and attached to a nesting-parent HWPT over an
 * IOAS, the way a VMM sets up a guest before it makes the vIOMMU.
 */
struct fuzz_nest {
	struct isim_machine *m;
	struct isim_iommu *iommu;
	struct isim_device *dev;
	struct isim_fd *fd;
	uint32_t ioas, dev_id, parent;
};

/* An ioctl whose struct starts with its size word; 0 or -errno. */
#define FUZZ_IOCTL(fd, req, type, ...)					\
	isim_ioctl(fd, req,						\
		   &(struct type){ .size = sizeof(struct type), __VA_ARGS__ })

static inline int fuzz_map(struct fuzz_nest *n, void *va, uint64_t len,
			   uint64_t iova)
{
	return FUZZ_IOCTL(n->fd, IOMMU_IOAS_MAP, iommu_ioas_map,
			  .flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				   IOMMU_IOAS_MAP_READABLE |
				   IOMMU_IOAS_MAP_WRITEABLE,
			  .ioas_id = n->ioas, .user_va = (uintptr_t)va,
			  .length = len, .iova = iova);
}

static inline int fuzz_unmap(struct fuzz_nest *n, uint64_t iova, uint64_t len)
{
	return FUZZ_IOCTL(n->fd, IOMMU_IOAS_UNMAP, iommu_ioas_unmap,
			  .ioas_id = n->ioas, .iova = iova, .length = len);
}

static inline int fuzz_destroy(struct fuzz_nest *n, uint32_t id)
{
	return FUZZ_IOCTL(n->fd, IOMMU_DESTROY, iommu_destroy, .id = id);
}

/* HW_QUEUE_ALLOC; *@out is written only on success. */
static inline int fuzz_hw_queue(struct fuzz_nest *n, uint32_t viommu,
				uint32_t type, uint32_t index, uint64_t iova,
				uint64_t length, uint32_t *out)
{
	struct iommu_hw_queue_alloc c = {
		.size = sizeof(c), .viommu_id = viommu, .type = type,
		.index = index, .nesting_parent_iova = iova, .length = length,
	};
	int rc = isim_ioctl(n->fd, IOMMU_HW_QUEUE_ALLOC, &c);

	if (!rc)
		*out = c.out_hw_queue_id;
	return rc;
}

/* VDEVICE_ALLOC of the device; *@out is written only on success. */
static inline int fuzz_vdevice(struct fuzz_nest *n, uint32_t viommu,
			       uint64_t virt_id, uint32_t *out)
{
	struct iommu_vdevice_alloc c = {
		.size = sizeof(c), .viommu_id = viommu, .dev_id = n->dev_id,
		.virt_id = virt_id,
	};
	int rc = isim_ioctl(n->fd, IOMMU_VDEVICE_ALLOC, &c);

	if (!rc)
		*out = c.out_vdevice_id;
	return rc;
}

/* A vIOMMU of @type with its driver data on the nest parent; dies if not. */
static inline uint32_t fuzz_viommu(struct fuzz_nest *n, uint32_t type,
				   void *data, uint32_t len)
{
	struct iommu_viommu_alloc c = {
		.size = sizeof(c), .type = type, .dev_id = n->dev_id,
		.hwpt_id = n->parent, .data_len = len,
		.data_uptr = (uintptr_t)data,
	};

	if (isim_ioctl(n->fd, IOMMU_VIOMMU_ALLOC, &c))
		fuzz_die("cannot make the vIOMMU");
	return c.out_viommu_id;
}

/* The machine, @driver's IOMMU and its device on a nest parent; or die. */
static inline void fuzz_nest_new(struct fuzz_nest *n, const char *driver,
				 const char *opts)
{
	struct isim_machine_config cfg = { .mem_size = 64ull << 20 };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt), .flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
	};
	uint32_t pt;

	memset(n, 0, sizeof(*n));
	if (isim_machine_new(&cfg, &n->m) ||
	    isim_iommu_add(n->m, driver, opts, &n->iommu) ||
	    isim_device_add(n->m, n->iommu, "dev0", &n->dev) ||
	    isim_open(n->m, &n->fd) ||
	    isim_ioctl(n->fd, IOMMU_IOAS_ALLOC, &ioas) ||
	    isim_device_bind(n->fd, n->dev, &n->dev_id))
		fuzz_die("cannot make a %s machine", driver);
	n->ioas = pt = ioas.out_ioas_id;
	hwpt.dev_id = n->dev_id;
	hwpt.pt_id = n->ioas;
	if (isim_device_attach(n->fd, n->dev_id, &pt) ||
	    isim_ioctl(n->fd, IOMMU_HWPT_ALLOC, &hwpt))
		fuzz_die("cannot make the nest parent");
	n->parent = pt = hwpt.out_hwpt_id;
	if (isim_device_replace(n->fd, n->dev_id, &pt))
		fuzz_die("cannot attach to the nest parent");
}

/*
 * Close the context (which destroys every object in reference order) and
 * check that nothing is left pinned and that no hardware access ever hit
 * a frame that was not allocated; the caller then frees its memory and
 * the machine, and ASan's leak check sees the rest.
 */
static inline void fuzz_nest_close(struct fuzz_nest *n)
{
	isim_close(n->fd);
	fuzz_check(n->m, "close");
	if (isim_phys_total_pins(n->m->phys))
		fuzz_die("%llu pins left after close",
			 (unsigned long long)isim_phys_total_pins(n->m->phys));
	if (isim_phys_bad_dma(n->m->phys))
		fuzz_die("a hardware access hit a frame not allocated");
}

#endif
