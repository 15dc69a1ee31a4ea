/*
 * What the two halves of IOMMU_TEST_CMD share: selftest.c (mock devices,
 * domain inspection and the ioctl's dispatch) calls the access-fd ops of
 * selftest_access.c, and both look up the frame behind a user page the
 * same way.  Private to sim/iommufd; the ioctl itself, iommufd_test(), is
 * declared in iommufd_private.h.
 */
#ifndef ISIM_IOMMUFD_SELFTEST_H
#define ISIM_IOMMUFD_SELFTEST_H

#include <stdbool.h>
#include <stdint.h>

struct iommu_test_cmd;
struct iommufd_ucmd;
struct isim_machine;

/*
 * The frame behind the page at @va (page aligned), as GUP without a pin
 * would find it.  -EFAULT when nothing is mapped there; *have false when
 * the page is mapped but the simulator never gave it a frame, which is
 * then a page no domain can map and nobody has pinned.
 */
int iommufd_test_user_page_frame(struct isim_machine *m, uint64_t va,
				 uint64_t *pfn, bool *have);

/* The access-fd ops (selftest_access.c), by IOMMU_TEST_OP_* name. */
int iommufd_test_create_access(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd);
int iommufd_test_access_replace_ioas(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd);
int iommufd_test_access_pages(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd);
int iommufd_test_destroy_access_pages(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd);
int iommufd_test_access_rw(struct iommufd_ucmd *ucmd,
			   struct iommu_test_cmd *cmd);

#endif
