/*
 * The interface between the iommufd core and the simulated IOMMU drivers
 * and hardware models under vendors/.  It mirrors what the kernel gives its
 * drivers in include/linux/iommufd.h: the core objects a driver embeds
 * (vIOMMU, vDEVICE, HW queue), the ops it implements, and the helpers it
 * may call.  A driver never reaches into core structures beyond this.
 */
#ifndef ISIM_DRIVER_H
#define ISIM_DRIVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

struct isim_machine;
struct isim_iommu;
struct isim_device;
struct iommufd_ctx;
struct iommufd_domain;
struct iommufd_hwpt_paging;
struct iommufd_device;
struct iommufd_access;
struct iommufd_veventq;

/* The header every iommufd object starts with. */
struct iommufd_object {
	atomic_int wait_cnt;	/* short-term refs a waiting destroy sleeps for */
	atomic_int users;	/* all refs; destroy needs exactly the table's */
	unsigned type;		/* enum iommufd_object_type */
	uint32_t id;
};

/* Driver-specific data from userspace (struct iommu_user_data). */
struct iommu_user_data {
	unsigned type;
	const void *uptr;
	size_t len;
};

/* Array of driver-specific entries (struct iommu_user_data_array). */
struct iommu_user_data_array {
	unsigned type;
	void *uptr;
	size_t entry_len;
	uint32_t entry_num;
};

struct iommufd_viommu_ops;

struct iommufd_viommu {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct isim_iommu *iommu;
	struct iommufd_hwpt_paging *hwpt;	/* the nesting parent */
	const struct iommufd_viommu_ops *ops;
	pthread_rwlock_t veventqs_rwsem;
	struct iommufd_veventq *veventqs;	/* list, one per type */
	pthread_rwlock_t vdevs_lock;
	struct iommufd_vdevice *vdevs;	/* uthash by virt_id */
	unsigned type;
};

struct iommufd_vdevice {
	struct iommufd_object obj;
	struct iommufd_viommu *viommu;
	struct iommufd_device *idev;
	uint64_t virt_id;
	/* Driver undo, installed by vdevice_init on success. */
	void (*destroy)(struct iommufd_vdevice *vdev);
	UT_hash_handle hh;	/* private: the vIOMMU's virt_id table */
};

struct iommufd_hw_queue {
	struct iommufd_object obj;
	struct iommufd_viommu *viommu;	/* set once the core holds it */
	struct iommufd_access *access;	/* phys variant only */
	uint64_t base_addr;	/* the user's nesting_parent_iova */
	size_t length;		/* the user's length, not rounded */
	unsigned type;
	/* Driver undo, installed by hw_queue_init[_phys] on success. */
	void (*destroy)(struct iommufd_hw_queue *hw_queue);
	struct iommufd_hw_queue *depend;	/* private: see _depend() */
};

struct iommufd_viommu_ops {
	void (*destroy)(struct iommufd_viommu *viommu);
	/* A nested domain on the vIOMMU: the driver's data in *out. */
	int (*alloc_domain_nested)(struct iommufd_viommu *viommu,
				   uint32_t flags,
				   const struct iommu_user_data *user_data,
				   void **out);
	void (*free_domain_nested)(struct iommufd_viommu *viommu, void *nested);
	int (*cache_invalidate)(struct iommufd_viommu *viommu,
				struct iommu_user_data_array *array);
	size_t vdevice_size;
	int (*vdevice_init)(struct iommufd_vdevice *vdev);
	size_t (*get_hw_queue_size)(struct iommufd_viommu *viommu,
				    unsigned queue_type);
	/* Physically addressed queues: the core pinned the guest memory. */
	int (*hw_queue_init_phys)(struct iommufd_hw_queue *hw_queue,
				  uint32_t index, uint64_t base_pa);
	/* IOVA-addressed queues (AMD): nothing pinned, used only if the
	 * phys variant is absent. */
	int (*hw_queue_init)(struct iommufd_hw_queue *hw_queue,
			     uint32_t index);
};

/* Per IOMMU instance: what isim_iommu_add() binds to. */
struct isim_iommu_ops {
	const char *name;
	/* Parse "k=v,k=v" options and set up the instance. */
	int (*probe)(struct isim_iommu *iommu, const char *opts);
	void (*release)(struct isim_iommu *iommu);
	/* IOMMU_GET_HW_INFO: fill @data (up to *len bytes; *len = full). */
	int (*hw_info)(struct isim_device *dev, unsigned in_type, void *data,
		       size_t *len, unsigned *out_type, uint64_t *caps,
		       uint8_t *max_pasid_log2);
	/* Paging domains: min page size bitmap and aperture for @flags. */
	int (*paging_geometry)(struct isim_device *dev, uint32_t flags,
			       uint64_t *pgsize_bitmap, uint64_t *aperture_start,
			       uint64_t *aperture_last);
	/* A device's DMA found no translation (AMD logs IO_PAGE_FAULT). */
	void (*dma_fault)(struct isim_device *dev, uint64_t iova,
			  unsigned flags);
	/* isim_device_page_request(), the attachment held stable; optional. */
	int (*page_request)(struct isim_device *dev, uint32_t pasid,
			    uint64_t addr, unsigned flags, uint16_t group);
	size_t (*get_viommu_size)(struct isim_device *dev, unsigned type);
	int (*viommu_init)(struct iommufd_viommu *viommu,
			   const struct iommu_user_data *user_data);
	/*
	 * Nested domains straight on a nesting-parent paging domain, with
	 * no vIOMMU (the kernel's iommu_ops.domain_alloc_nested); optional,
	 * and without it such an IOMMU_HWPT_ALLOC answers EOPNOTSUPP.  The
	 * driver's data goes in *out and comes back to free_domain_nested.
	 */
	int (*alloc_domain_nested)(struct isim_device *dev,
				   struct iommufd_domain *parent,
				   uint32_t flags,
				   const struct iommu_user_data *user_data,
				   void **out);
	void (*free_domain_nested)(void *nested);
	/*
	 * IOMMU_HWPT_INVALIDATE of a nested HWPT of this driver, either kind
	 * (the nested domain's cache_invalidate_user); optional.  Sets
	 * array->entry_num to the number of entries handled.
	 */
	int (*cache_invalidate_user)(void *nested,
				     struct iommu_user_data_array *array);
	void *drvdata;
};

/* What a driver may ask of the core (sim/iommufd/driver.c). */
struct isim_machine *isim_iommu_machine(struct isim_iommu *iommu);
void *isim_iommu_priv(struct isim_iommu *iommu);
void isim_iommu_set_priv(struct isim_iommu *iommu, void *priv);
const char *isim_device_name(const struct isim_device *dev);
struct isim_iommu *isim_device_iommu(const struct isim_device *dev);
/* Copy a driver struct from user data (copy_struct_from_user rules). */
int iommu_copy_struct_from_user(const struct iommu_user_data *data, void *dst,
				unsigned type, size_t ksize, size_t min_size);
int iommu_copy_struct_to_user(const struct iommu_user_data *data,
			      const void *src, unsigned type, size_t ksize);
/* The IOVA → PA translation of the vIOMMU's nesting parent. */
int iommufd_viommu_translate(struct iommufd_viommu *viommu, uint64_t iova,
			     uint64_t *pa);
/* Register memory userspace may map through the iommufd (page aligned). */
int iommufd_viommu_alloc_mmap(struct iommufd_viommu *viommu, void *base,
			      size_t length, uint64_t *offset);
void iommufd_viommu_destroy_mmap(struct iommufd_viommu *viommu,
				 uint64_t offset);
/* Deliver an event to the vIOMMU's vEVENTQ of @type (§5.3). */
int iommufd_viommu_report_event(struct iommufd_viommu *viommu, unsigned type,
				const void *event, size_t len);
/* Lookups between vDEVICEs and devices; caller holds no core lock. */
struct isim_device *iommufd_viommu_find_dev(struct iommufd_viommu *viommu,
					    uint64_t virt_id);
int iommufd_viommu_get_vdev_id(struct iommufd_viommu *viommu,
			       struct isim_device *dev, uint64_t *virt_id);
/* @hw_queue depends on @prev: DESTROY of prev is EBUSY until undone. */
int iommufd_hw_queue_depend(struct iommufd_hw_queue *hw_queue,
			    struct iommufd_hw_queue *prev);
void iommufd_hw_queue_undepend(struct iommufd_hw_queue *hw_queue,
			       struct iommufd_hw_queue *prev);

/*
 * A hardware model the machine steps (isim_hw_run) or, on a threaded
 * machine, runs on its own thread between start and stop.
 */
struct isim_hw_model {
	const char *name;
	/* Do up to @budget units of work; returns the units done. */
	unsigned (*step)(struct isim_hw_model *hw, unsigned budget);
	int (*start)(struct isim_hw_model *hw);
	void (*stop)(struct isim_hw_model *hw);
	void *priv;
	struct isim_hw_model *next;	/* private to the machine */
};
int isim_hw_register(struct isim_machine *m, struct isim_hw_model *hw);
void isim_hw_unregister(struct isim_machine *m, struct isim_hw_model *hw);

/* Physical memory for hardware models: -EFAULT for a frame that is not
 * allocated (counted as a DMA to freed memory). */
int isim_machine_pa_read(struct isim_machine *m, uint64_t pa, void *buf,
			 size_t len);
int isim_machine_pa_write(struct isim_machine *m, uint64_t pa,
			  const void *buf, size_t len);

/* Register a driver so isim_iommu_add() finds it by name. */
int isim_register_iommu_driver(const struct isim_iommu_ops *ops);

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
