/*
 * The IOAS object: an I/O address space that userspace fills with
 * mappings.  This file holds the object and its ioctls; the address space
 * itself is the io_pagetable (io_pagetable.c).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"

struct iommufd_ioas {
	struct iommufd_object obj;
	pthread_mutex_t mutex;	/* HWPT list and the auto domain */
};

void iommufd_ioas_destroy(struct iommufd_object *obj)
{
	struct iommufd_ioas *ioas = (struct iommufd_ioas *)obj;

	pthread_mutex_destroy(&ioas->mutex);
}

static struct iommufd_ioas *iommufd_ioas_alloc(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas;

	ioas = (struct iommufd_ioas *)_iommufd_object_alloc(
		ictx, sizeof(*ioas), IOMMUFD_OBJ_IOAS);
	if (IS_ERR(ioas))
		return ioas;
	pthread_mutex_init(&ioas->mutex, NULL);
	return ioas;
}

int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_alloc *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	ioas = iommufd_ioas_alloc(ucmd->ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	cmd->out_ioas_id = ioas->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		iommufd_object_abort_and_destroy(ucmd->ictx, &ioas->obj);
		return rc;
	}
	pthread_rwlock_rdlock(&ucmd->ictx->ioas_creation_lock);
	iommufd_object_finalize(ucmd->ictx, &ioas->obj);
	pthread_rwlock_unlock(&ucmd->ictx->ioas_creation_lock);
	return 0;
}
