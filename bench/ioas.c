/*
 * Small IOAS and object helpers that several benchmarks share: each wraps
 * one ioctl of the kernel ABI through isim_ioctl, so what a benchmark times
 * is the same path an unmodified iommufd program would take.
 */
#include "config.h"

#include <linux/iommufd.h>

#include "iommufd-sim/sim.h"
#include "bench/bench.h"

int bench_ioas_alloc(struct isim_fd *fd, uint32_t *out_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = isim_ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc)
		*out_id = cmd.out_ioas_id;
	return rc;
}

int bench_ioas_map_fixed(struct isim_fd *fd, uint32_t ioas, void *va,
			 uint64_t len, uint64_t iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return isim_ioctl(fd, IOMMU_IOAS_MAP, &cmd);
}

int bench_ioas_unmap(struct isim_fd *fd, uint32_t ioas, uint64_t iova,
		     uint64_t len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = len,
	};

	return isim_ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);
}

int bench_destroy(struct isim_fd *fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return isim_ioctl(fd, IOMMU_DESTROY, &cmd);
}
