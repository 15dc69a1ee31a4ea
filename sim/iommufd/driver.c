/*
 * The driver side of the core: the registry of simulated IOMMU drivers,
 * IOMMU instances and the devices behind them, and the helpers drivers may
 * call (user data copies, instance data).  Mirrors
 * drivers/iommu/iommufd/driver.c plus the device registration that the
 * kernel's bus code would do.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

#define MAX_DRIVERS 8

extern const struct isim_iommu_ops isim_mock_iommu_ops;
extern const struct isim_iommu_ops isim_mock_iova_iommu_ops;
extern const struct isim_iommu_ops isim_amd_iommu_ops;
extern const struct isim_iommu_ops isim_tegra241_cmdqv_iommu_ops;

static pthread_mutex_t drivers_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct isim_iommu_ops *drivers[MAX_DRIVERS] = {
	&isim_mock_iommu_ops,
	&isim_mock_iova_iommu_ops,
	&isim_amd_iommu_ops,
	&isim_tegra241_cmdqv_iommu_ops,
};

int isim_register_iommu_driver(const struct isim_iommu_ops *ops)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&drivers_lock);
	for (unsigned i = 0; i < MAX_DRIVERS; i++) {
		if (drivers[i] && !strcmp(drivers[i]->name, ops->name)) {
			rc = drivers[i] == ops ? 0 : -EEXIST;
			break;
		}
		if (!drivers[i]) {
			drivers[i] = ops;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&drivers_lock);
	return rc;
}

const struct isim_iommu_ops *isim_find_iommu_driver(const char *name)
{
	const struct isim_iommu_ops *found = NULL;

	pthread_mutex_lock(&drivers_lock);
	for (unsigned i = 0; i < MAX_DRIVERS && drivers[i]; i++)
		if (!strcmp(drivers[i]->name, name))
			found = drivers[i];
	pthread_mutex_unlock(&drivers_lock);
	return found;
}

int isim_iommu_add(struct isim_machine *m, const char *driver,
		   const char *opts, struct isim_iommu **out)
{
	const struct isim_iommu_ops *ops = isim_find_iommu_driver(driver);
	struct isim_iommu *iommu;
	unsigned n = 0;
	int rc;

	if (!ops)
		return -ENODEV;
	iommu = isim_kzalloc(sizeof(*iommu));
	if (!iommu)
		return -ENOMEM;
	iommu->m = m;
	iommu->ops = ops;
	pthread_mutex_lock(&m->lock);
	for (struct isim_iommu *i = m->iommus; i; i = i->next)
		n++;
	pthread_mutex_unlock(&m->lock);
	snprintf(iommu->name, sizeof(iommu->name), "%s%u", ops->name, n);
	if (ops->probe) {
		rc = ops->probe(iommu, opts);
		if (rc) {
			free(iommu);
			return rc;
		}
	}
	pthread_mutex_lock(&m->lock);
	iommu->next = m->iommus;
	m->iommus = iommu;
	pthread_mutex_unlock(&m->lock);
	if (out)
		*out = iommu;
	return 0;
}

int isim_device_add(struct isim_machine *m, struct isim_iommu *iommu,
		    const char *name, struct isim_device **out)
{
	struct isim_device *dev;

	if (!name || !*name || strlen(name) >= sizeof(dev->name))
		return -EINVAL;
	if (isim_device_find(m, name))
		return -EEXIST;
	dev = isim_kzalloc(sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->m = m;
	dev->iommu = iommu ? iommu : m->default_iommu;
	strcpy(dev->name, name);
	pthread_mutex_init(&dev->group_lock, NULL);
	pthread_mutex_lock(&m->lock);
	dev->next = m->devices;
	m->devices = dev;
	pthread_mutex_unlock(&m->lock);
	if (out)
		*out = dev;
	return 0;
}

/*
 * Take a device off the machine (the selftest's mock devices die with their
 * stdev object).  It must not be bound: a bound device is still in use.
 */
void isim_device_remove(struct isim_device *dev)
{
	struct isim_machine *m = dev->m;
	struct isim_device **pp;

	if (ISIM_WARN_ON(m, dev->idev))
		return;
	pthread_mutex_lock(&m->lock);
	for (pp = &m->devices; *pp; pp = &(*pp)->next)
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_destroy(&dev->group_lock);
	free(dev->drvdata);
	free(dev);
}

struct isim_device *isim_device_find(struct isim_machine *m, const char *name)
{
	struct isim_device *dev;

	pthread_mutex_lock(&m->lock);
	for (dev = m->devices; dev; dev = dev->next)
		if (!strcmp(dev->name, name))
			break;
	pthread_mutex_unlock(&m->lock);
	return dev;
}

/* Machine teardown: every context is closed, so nothing is bound. */
void isim_machine_release_devices(struct isim_machine *m)
{
	while (m->devices) {
		struct isim_device *dev = m->devices;

		m->devices = dev->next;
		pthread_mutex_destroy(&dev->group_lock);
		free(dev->drvdata);
		free(dev);
	}
	while (m->iommus) {
		struct isim_iommu *iommu = m->iommus;

		m->iommus = iommu->next;
		if (iommu->ops->release)
			iommu->ops->release(iommu);
		free(iommu);
	}
}

struct isim_machine *isim_iommu_machine(struct isim_iommu *iommu)
{
	return iommu->m;
}

void *isim_iommu_priv(struct isim_iommu *iommu)
{
	return iommu->priv;
}

void isim_iommu_set_priv(struct isim_iommu *iommu, void *priv)
{
	iommu->priv = priv;
}

const char *isim_device_name(const struct isim_device *dev)
{
	return dev->name;
}

struct isim_iommu *isim_device_iommu(const struct isim_device *dev)
{
	return dev->iommu;
}

int iommu_copy_struct_from_user(const struct iommu_user_data *data, void *dst,
				unsigned type, size_t ksize, size_t min_size)
{
	if (!data || data->type != type)
		return -EINVAL;
	if (data->len < min_size)
		return -EINVAL;
	return isim_copy_struct_from_user(dst, ksize, data->uptr, data->len);
}

int iommu_copy_struct_to_user(const struct iommu_user_data *data,
			      const void *src, unsigned type, size_t ksize)
{
	if (!data || data->type != type)
		return -EINVAL;
	return isim_copy_to_user((void *)data->uptr, src,
				 data->len < ksize ? data->len : ksize);
}
