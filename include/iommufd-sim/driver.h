/*
 * The interface between the iommufd core and the simulated IOMMU drivers
 * and hardware models under vendors/.  It mirrors what the kernel gives its
 * drivers: a driver never reaches into core structures beyond this.
 */
#ifndef ISIM_DRIVER_H
#define ISIM_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/*
 * How a hardware model reaches memory.  Addresses are physical (a model
 * that fetches by PA, like a CMDQV VCMDQ) or I/O virtual (a model that
 * walks the nesting parent's page table, like AMD's guest rings), as the
 * provider decides.  Both calls return 0, or -EFAULT when nothing valid is
 * there: a frame that is not allocated, or an address with no translation.
 * The provider records such accesses; the model reports them the
 * hardware's way.
 */
struct isim_hw_mem {
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t addr, const void *buf, size_t len);
	void *ctx;
};

static inline int isim_hw_read(const struct isim_hw_mem *mem, uint64_t addr,
			       void *buf, size_t len)
{
	return mem->read(mem->ctx, addr, buf, len);
}

static inline int isim_hw_write(const struct isim_hw_mem *mem, uint64_t addr,
				const void *buf, size_t len)
{
	return mem->write(mem->ctx, addr, buf, len);
}

#endif
