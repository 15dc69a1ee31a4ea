/*
 * The IOAS object and its ioctls: MAP, MAP_FILE, COPY, UNMAP, IOVA_RANGES,
 * ALLOW_IOVAS, OPTION and CHANGE_PROCESS.  The address space itself is the
 * io_pagetable (io_pagetable.c); this file checks the arguments in the
 * kernel's order (spec/core.md §4, §8) and replies.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

void iommufd_ioas_destroy(struct iommufd_object *obj)
{
	struct iommufd_ioas *ioas = (struct iommufd_ioas *)obj;
	uint64_t unmapped;

	ISIM_WARN_ON(ioas->iopt.m, iopt_unmap_all(&ioas->iopt, &unmapped));
	iopt_destroy_table(&ioas->iopt);
	pthread_mutex_destroy(&ioas->mutex);
}

int iommufd_ioas_check(struct iommufd_object *obj, char *buf, size_t len,
		       size_t *used)
{
	struct iommufd_ioas *ioas = (struct iommufd_ioas *)obj;

	return iopt_check(&ioas->iopt, buf, len, used);
}

struct iommufd_ioas *iommufd_get_ioas(struct iommufd_ctx *ictx, uint32_t id)
{
	return (struct iommufd_ioas *)iommufd_get_object(ictx, id,
							  IOMMUFD_OBJ_IOAS);
}

static struct iommufd_ioas *iommufd_ioas_alloc(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas;

	ioas = (struct iommufd_ioas *)_iommufd_object_alloc(
		ictx, sizeof(*ioas), IOMMUFD_OBJ_IOAS);
	if (IS_ERR(ioas))
		return ioas;
	iopt_init_table(&ioas->iopt, ictx->m);
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

static int conv_iommu_prot(uint32_t map_flags)
{
	/* Mappings are always cache coherent, as on the kernel. */
	int prot = IOMMU_CACHE;

	if (map_flags & IOMMU_IOAS_MAP_WRITEABLE)
		prot |= IOMMU_WRITE;
	if (map_flags & IOMMU_IOAS_MAP_READABLE)
		prot |= IOMMU_READ;
	return prot;
}

#define MAP_FLAGS                                                          \
	(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |            \
	 IOMMU_IOAS_MAP_READABLE)

/* The checks MAP, MAP_FILE and COPY share, in the kernel's order. */
static int map_common_checks(uint32_t flags, uint64_t iova, uint64_t length)
{
	if (iova >= UINT64_MAX || length >= UINT64_MAX)
		return -EOVERFLOW;
	if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	return 0;
}

static unsigned map_iopt_flags(uint32_t flags)
{
	return flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA;
}

int iommufd_ioas_map(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	uint64_t iova;
	int rc;

	if ((cmd->flags & ~MAP_FLAGS) || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = map_common_checks(cmd->flags, cmd->iova, cmd->length);
	if (rc)
		return rc;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	iova = cmd->iova;
	rc = iopt_map_user_pages(&ioas->iopt, &iova, u64_to_user_ptr(cmd->user_va),
				 cmd->length, conv_iommu_prot(cmd->flags),
				 map_iopt_flags(cmd->flags),
				 ucmd->ictx->account_mode);
	if (!rc) {
		cmd->iova = iova;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

int iommufd_ioas_map_file(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map_file *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	struct stat st;
	uint64_t iova;
	int rc;

	if (cmd->flags & ~MAP_FLAGS)
		return -EOPNOTSUPP;
	rc = map_common_checks(cmd->flags, cmd->iova, cmd->length);
	if (rc)
		return rc;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	/* The fd is resolved after the IOAS, as in the kernel. */
	if (cmd->fd < 0 || fstat(cmd->fd, &st)) {
		rc = -EBADF;
		goto out_put;
	}
	iova = cmd->iova;
	rc = iopt_map_file_pages(&ioas->iopt, &iova, cmd->fd, cmd->start,
				 cmd->length, conv_iommu_prot(cmd->flags),
				 map_iopt_flags(cmd->flags),
				 ucmd->ictx->account_mode);
	if (!rc) {
		cmd->iova = iova;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
out_put:
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

int iommufd_ioas_copy(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_copy *cmd = ucmd->cmd;
	struct iopt_copy_list list;
	struct iommufd_ioas *src, *dst;
	uint64_t iova;
	int rc;

	if (cmd->flags & ~MAP_FLAGS)
		return -EOPNOTSUPP;
	if (cmd->src_iova >= UINT64_MAX)
		return -EOVERFLOW;
	rc = map_common_checks(cmd->flags, cmd->dst_iova, cmd->length);
	if (rc)
		return rc;
	src = iommufd_get_ioas(ucmd->ictx, cmd->src_ioas_id);
	if (IS_ERR(src))
		return (int)PTR_ERR(src);
	rc = iopt_copy_collect(&src->iopt, cmd->src_iova, cmd->length, &list);
	iommufd_put_object(ucmd->ictx, &src->obj);
	if (rc)
		return rc;
	dst = iommufd_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
	if (IS_ERR(dst)) {
		rc = (int)PTR_ERR(dst);
		goto out_release;
	}
	iova = cmd->dst_iova;
	rc = iopt_copy_map(&dst->iopt, &list, cmd->length, &iova,
			   conv_iommu_prot(cmd->flags),
			   map_iopt_flags(cmd->flags));
	if (!rc) {
		cmd->dst_iova = iova;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
	iommufd_put_object(ucmd->ictx, &dst->obj);
out_release:
	iopt_copy_release(&list);
	return rc;
}

int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_unmap *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	uint64_t unmapped = 0;
	int rc;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	if (cmd->iova == 0 && cmd->length == UINT64_MAX) {
		rc = iopt_unmap_all(&ioas->iopt, &unmapped);
	} else if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX) {
		rc = -EOVERFLOW;
	} else {
		rc = iopt_unmap_iova(&ioas->iopt, cmd->iova, cmd->length,
				     &unmapped);
		if (!rc && !unmapped)
			rc = -ENOENT;
	}
	if (!rc) {
		cmd->length = unmapped;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_iova_ranges *cmd = ucmd->cmd;
	struct iommu_iova_range *ranges = u64_to_user_ptr(cmd->allowed_iovas);
	struct isim_itree_span_iter span;
	struct iommufd_ioas *ioas;
	uint32_t max = cmd->num_iovas;
	int rc = 0;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	pthread_rwlock_rdlock(&ioas->iopt.iova_rwsem);
	cmd->num_iovas = 0;
	isim_itree_for_each_span(&span, &ioas->iopt.reserved_itree, 0,
				 UINT64_MAX) {
		struct iommu_iova_range r;

		if (!span.is_hole)
			continue;
		if (cmd->num_iovas < max) {
			r.start = span.start_hole;
			r.last = span.last_hole;
			rc = isim_copy_to_user(&ranges[cmd->num_iovas], &r,
					       sizeof(r));
			if (rc)
				break;
		}
		cmd->num_iovas++;
	}
	cmd->out_iova_alignment = ioas->iopt.iova_alignment;
	pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
	if (!rc)
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (!rc && cmd->num_iovas > max)
		rc = -EMSGSIZE;
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_allow_iovas *cmd = ucmd->cmd;
	struct iommu_iova_range *ranges = u64_to_user_ptr(cmd->allowed_iovas);
	struct iommufd_ioas *ioas;
	struct isim_itree allowed;
	int rc = 0;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	isim_itree_init(&allowed);
	for (uint32_t i = 0; i < cmd->num_iovas; i++) {
		struct iommu_iova_range r;
		struct isim_itree_node *n;

		rc = isim_copy_from_user(&r, &ranges[i], sizeof(r));
		if (rc)
			goto out_free;
		if (r.start >= r.last ||
		    isim_itree_iter_first(&allowed, r.start, r.last)) {
			rc = -EINVAL;
			goto out_free;
		}
		n = isim_kzalloc(sizeof(*n));
		if (!n) {
			rc = -ENOMEM;
			goto out_free;
		}
		n->start = r.start;
		n->last = r.last;
		isim_itree_insert(&allowed, n);
	}
	rc = iopt_set_allow_iova(&ioas->iopt, &allowed);
out_free:
	iopt_free_allowed(&allowed);
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

/*
 * There is one process, so moving the pinned-page charges to "the calling
 * process" changes nothing; what stays observable is the refusal of
 * anything that is not a memfd mapping.
 */
int iommufd_ioas_change_process(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_change_process *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_object *obj;
	uint32_t id;
	int rc = 0;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	pthread_rwlock_wrlock(&ictx->ioas_creation_lock);
	for (id = 0; !rc; id++) {
		struct isim_itree_node *n;
		struct iommufd_ioas *ioas;

		pthread_mutex_lock(&ictx->obj_lock);
		obj = isim_idr_find_next(&ictx->objects, &id);
		if (obj && (!iommufd_object_published(obj) ||
			    obj->type != IOMMUFD_OBJ_IOAS ||
			    !iommufd_lock_obj(obj)))
			obj = (void *)1;
		pthread_mutex_unlock(&ictx->obj_lock);
		if (!obj)
			break;
		if (obj == (void *)1)
			continue;
		ioas = (struct iommufd_ioas *)obj;
		pthread_rwlock_rdlock(&ioas->iopt.iova_rwsem);
		isim_itree_for_each(n, &ioas->iopt.area_itree) {
			struct iopt_area *area = iopt_area_from_node(n);

			if (area->pages &&
			    area->pages->type != IOPT_ADDRESS_FILE)
				rc = -EINVAL;
		}
		pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
		iommufd_put_object(ictx, obj);
	}
	pthread_rwlock_unlock(&ictx->ioas_creation_lock);
	return rc;
}

static int option_rlimit_mode(struct iommu_option *cmd,
			      struct iommufd_ctx *ictx)
{
	if (cmd->object_id)
		return -EOPNOTSUPP;
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		cmd->val64 = ictx->account_mode == IOPT_PAGES_ACCOUNT_MM;
		return 0;
	}
	if (cmd->op != IOMMU_OPTION_OP_SET)
		return -EOPNOTSUPP;
	if (ictx->m->cfg.no_cap_sys_resource)
		return -EPERM;
	if (cmd->val64 > 1)
		return -EINVAL;
	pthread_mutex_lock(&ictx->obj_lock);
	if (!isim_idr_empty(&ictx->objects)) {
		pthread_mutex_unlock(&ictx->obj_lock);
		return -EBUSY;
	}
	ictx->account_mode = cmd->val64 ? IOPT_PAGES_ACCOUNT_MM :
					  IOPT_PAGES_ACCOUNT_USER;
	pthread_mutex_unlock(&ictx->obj_lock);
	return 0;
}

static int option_huge_pages(struct iommu_option *cmd,
			     struct iommufd_ioas *ioas)
{
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		cmd->val64 = !ioas->iopt.disable_large_pages;
		return 0;
	}
	if (cmd->op != IOMMU_OPTION_OP_SET)
		return -EOPNOTSUPP;
	if (cmd->val64 == 0)
		return iopt_disable_large_pages(&ioas->iopt);
	if (cmd->val64 == 1) {
		iopt_enable_large_pages(&ioas->iopt);
		return 0;
	}
	return -EINVAL;
}

int iommufd_option(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->option_id) {
	case IOMMU_OPTION_RLIMIT_MODE:
		rc = option_rlimit_mode(cmd, ucmd->ictx);
		break;
	case IOMMU_OPTION_HUGE_PAGES:
		ioas = iommufd_get_ioas(ucmd->ictx, cmd->object_id);
		if (IS_ERR(ioas))
			return (int)PTR_ERR(ioas);
		rc = option_huge_pages(cmd, ioas);
		iommufd_put_object(ucmd->ictx, &ioas->obj);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rc)
		return rc;
	/* Only val64 goes back to userspace. */
	return isim_copy_to_user(&((struct iommu_option *)ucmd->ubuffer)->val64,
				 &cmd->val64, sizeof(cmd->val64));
}
