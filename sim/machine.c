/*
 * Machine creation and teardown: fills in configuration defaults and owns
 * the pieces every layer shares (trace, memory, IOMMU instances).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "sim/lib/fault.h"
#include "sim/machine.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm.h"

#define DEFAULT_MEM_SIZE (4ull << 30)
#define DEFAULT_PAGE_SIZE 4096u
#define DEFAULT_DESTROY_TIMEOUT_MS 60000u

static int config_fill(struct isim_machine_config *cfg)
{
	if (!cfg->mem_size)
		cfg->mem_size = DEFAULT_MEM_SIZE;
	if (!cfg->page_size)
		cfg->page_size = DEFAULT_PAGE_SIZE;
	if (!cfg->destroy_timeout_ms)
		cfg->destroy_timeout_ms = DEFAULT_DESTROY_TIMEOUT_MS;
	if (cfg->page_size != 4096 && cfg->page_size != 16384 &&
	    cfg->page_size != 65536)
		return -EINVAL;
	if (cfg->frag < 0.0 || cfg->frag > 1.0)
		return -EINVAL;
	if (cfg->mem_size % cfg->page_size)
		return -EINVAL;
	return 0;
}

int isim_machine_new(const struct isim_machine_config *cfg,
		     struct isim_machine **out)
{
	struct isim_machine *m;
	int rc;

	m = isim_kzalloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (cfg)
		m->cfg = *cfg;
	rc = config_fill(&m->cfg);
	if (rc) {
		free(m);
		return rc;
	}
	atomic_init(&m->warnings, 0);
	pthread_mutex_init(&m->acct.lock, NULL);
	m->acct.limit_pages = m->cfg.memlock_limit / m->cfg.page_size;
	isim_tracer_init(&m->trace);
	rc = isim_phys_create(&m->cfg, &m->trace, &m->phys);
	if (rc)
		goto err_trace;
	/*
	 * The first frame goes to the simulated firmware, as low memory does
	 * on real machines: no buffer a device sees ever sits at PA 0, which
	 * hardware registers use to mean "not programmed".
	 */
	rc = isim_phys_alloc(m->phys, 0, &m->firmware_pfn);
	if (rc)
		goto err_phys;
	rc = isim_vm_create(m->phys, &m->trace, &m->vm);
	if (rc)
		goto err_phys;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->hw_lock, NULL);
	/* Every machine has a mock IOMMU, as the kernel selftest expects. */
	rc = isim_iommu_add(m, "mock", NULL, &m->default_iommu);
	if (rc)
		goto err_vm;
	*out = m;
	return 0;

err_vm:
	pthread_mutex_destroy(&m->hw_lock);
	pthread_mutex_destroy(&m->lock);
	isim_vm_destroy(m->vm);
err_phys:
	isim_phys_destroy(m->phys);
err_trace:
	isim_tracer_fini(&m->trace);
	pthread_mutex_destroy(&m->acct.lock);
	free(m);
	return rc;
}

void isim_machine_free(struct isim_machine *m)
{
	if (!m)
		return;
	isim_machine_release_devices(m);
	ISIM_WARN_ON(m, m->hw_models != NULL);
	pthread_mutex_destroy(&m->hw_lock);
	pthread_mutex_destroy(&m->acct.lock);
	pthread_mutex_destroy(&m->lock);
	isim_vm_destroy(m->vm);
	if (m->firmware_pfn != UINT64_MAX)
		isim_phys_free(m->phys, m->firmware_pfn, 0);
	isim_phys_destroy(m->phys);
	isim_tracer_fini(&m->trace);
	free(m);
}

void isim_warn(struct isim_machine *m, const char *what, const char *file,
	       int line)
{
	atomic_fetch_add(&m->warnings, 1);
	isim_trace(&m->trace, "warn", "cond=\"%s\" at=%s:%d", what, file, line);
}

uint32_t isim_machine_page_size(const struct isim_machine *m)
{
	return m->cfg.page_size;
}

int isim_machine_pa_read(struct isim_machine *m, uint64_t pa, void *buf,
			 size_t len)
{
	return isim_pa_read(m->phys, pa, buf, len);
}

int isim_machine_pa_write(struct isim_machine *m, uint64_t pa,
			  const void *buf, size_t len)
{
	return isim_pa_write(m->phys, pa, buf, len);
}

int isim_hw_register(struct isim_machine *m, struct isim_hw_model *hw)
{
	int rc = 0;

	if (m->cfg.threaded && hw->start)
		rc = hw->start(hw);
	if (rc)
		return rc;
	pthread_mutex_lock(&m->hw_lock);
	hw->next = m->hw_models;
	m->hw_models = hw;
	pthread_mutex_unlock(&m->hw_lock);
	return 0;
}

void isim_hw_unregister(struct isim_machine *m, struct isim_hw_model *hw)
{
	struct isim_hw_model **pp;

	pthread_mutex_lock(&m->hw_lock);
	for (pp = &m->hw_models; *pp; pp = &(*pp)->next)
		if (*pp == hw) {
			*pp = hw->next;
			break;
		}
	pthread_mutex_unlock(&m->hw_lock);
	if (m->cfg.threaded && hw->stop)
		hw->stop(hw);
}

/*
 * Round-robin over the models until a whole round does no work or the
 * budget is spent.  The lock is held throughout so a model cannot be
 * unregistered (and freed) while it steps.
 */
unsigned isim_hw_run(struct isim_machine *m, unsigned budget)
{
	unsigned done = 0, round;

	if (m->cfg.threaded)
		return 0;
	pthread_mutex_lock(&m->hw_lock);
	do {
		round = 0;
		for (struct isim_hw_model *hw = m->hw_models;
		     hw && done + round < budget; hw = hw->next)
			round += hw->step(hw, budget - done - round);
		done += round;
	} while (round && done < budget);
	pthread_mutex_unlock(&m->hw_lock);
	return done;
}

void isim_trace_set_sink(struct isim_machine *m, isim_trace_sink_fn sink,
			 void *arg)
{
	isim_tracer_set_sink(&m->trace, sink, arg);
}
