/*
 * domain_state.c: the customer aggregate (struct domain_customer): a new
 * one, a deep copy, its size and its freeing; the id indexes of its
 * reservations and savings plans; and the lookups that evolving and deciding
 * share, among them the roles held at a business time.
 *
 * Does not own: changing the aggregate (domain_evolve.c), any rule.
 *
 * Invariants: an id index holds every item of its array and is at most half
 * full; items are only ever appended.
 */
#include "domain.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "domain_internal.h"

/* ---- small helpers ------------------------------------------------------- */

bool domain__copy_string(char *target, size_t target_size, const char *source)
{
    if (source == NULL)
        source = "";
    size_t length = strlen(source);
    if (length >= target_size)
        return false;
    memcpy(target, source, length + 1);
    return true;
}

void domain__copy_cut(char *target, size_t target_size, const char *source)
{
    if (source == NULL)
        source = "";
    size_t length = strnlen(source, target_size - 1);
    memcpy(target, source, length);
    target[length] = '\0';
}

bool domain__string_equal(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* ---- the aggregate ------------------------------------------------------- */

struct domain_customer *domain_customer_new(const char *partner_id, const char *customer_id)
{
    struct domain_customer *customer = calloc(1, sizeof *customer);
    if (customer == NULL)
        return NULL;
    if (!domain__copy_string(customer->partner_id, sizeof customer->partner_id, partner_id) ||
        !domain__copy_string(customer->customer_id, sizeof customer->customer_id, customer_id)) {
        free(customer);
        return NULL;
    }
    return customer;
}

void domain_customer_free(struct domain_customer *customer)
{
    if (customer == NULL)
        return;
    free(customer->subscriptions);
    free(customer->status_changes);
    free(customer->roles);
    free(customer->role_removals);
    free(customer->permission_changes);
    free(customer->reservation_ids.slots);
    free(customer->savings_plan_ids.slots);
    free(customer->reservations);
    free(customer->savings_plans);
    free(customer->refunds);
    free(customer);
}

size_t domain_customer_bytes(const struct domain_customer *customer)
{
    if (customer == NULL)
        return 0;
    return sizeof *customer + customer->subscription_capacity * sizeof *customer->subscriptions +
           customer->status_change_capacity * sizeof *customer->status_changes +
           customer->role_capacity * sizeof *customer->roles +
           customer->role_removal_capacity * sizeof *customer->role_removals +
           customer->permission_change_capacity * sizeof *customer->permission_changes +
           customer->reservation_capacity * sizeof *customer->reservations +
           customer->savings_plan_capacity * sizeof *customer->savings_plans +
           customer->reservation_ids.capacity * sizeof *customer->reservation_ids.slots +
           customer->savings_plan_ids.capacity * sizeof *customer->savings_plan_ids.slots +
           customer->refund_capacity * sizeof *customer->refunds;
}

/* A copy of count items (capacity = count). NULL only when out of memory. */
static void *copy_items(const void *items, size_t count, size_t item_size, bool *ok)
{
    if (count == 0)
        return NULL;
    void *copy = malloc(count * item_size);
    if (copy == NULL) {
        *ok = false;
        return NULL;
    }
    memcpy(copy, items, count * item_size);
    return copy;
}

struct domain_customer *domain_customer_clone(const struct domain_customer *customer)
{
    if (customer == NULL)
        return NULL;
    struct domain_customer *copy = malloc(sizeof *copy);
    if (copy == NULL)
        return NULL;
    *copy = *customer;
    bool ok = true;
    copy->subscriptions = copy_items(customer->subscriptions, customer->subscription_count,
                                     sizeof *customer->subscriptions, &ok);
    copy->subscription_capacity = customer->subscription_count;
    copy->status_changes = copy_items(customer->status_changes, customer->status_change_count,
                                      sizeof *customer->status_changes, &ok);
    copy->status_change_capacity = customer->status_change_count;
    copy->roles = copy_items(customer->roles, customer->role_count, sizeof *customer->roles, &ok);
    copy->role_capacity = customer->role_count;
    copy->role_removals = copy_items(customer->role_removals, customer->role_removal_count,
                                     sizeof *customer->role_removals, &ok);
    copy->role_removal_capacity = customer->role_removal_count;
    copy->permission_changes =
        copy_items(customer->permission_changes, customer->permission_change_count,
                   sizeof *customer->permission_changes, &ok);
    copy->permission_change_capacity = customer->permission_change_count;
    copy->reservations = copy_items(customer->reservations, customer->reservation_count,
                                    sizeof *customer->reservations, &ok);
    copy->reservation_capacity = customer->reservation_count;
    copy->savings_plans = copy_items(customer->savings_plans, customer->savings_plan_count,
                                     sizeof *customer->savings_plans, &ok);
    copy->savings_plan_capacity = customer->savings_plan_count;
    copy->reservation_ids.slots =
        copy_items(customer->reservation_ids.slots, customer->reservation_ids.capacity,
                   sizeof *customer->reservation_ids.slots, &ok);
    copy->savings_plan_ids.slots =
        copy_items(customer->savings_plan_ids.slots, customer->savings_plan_ids.capacity,
                   sizeof *customer->savings_plan_ids.slots, &ok);
    copy->refunds =
        copy_items(customer->refunds, customer->refund_count, sizeof *customer->refunds, &ok);
    copy->refund_capacity = customer->refund_count;
    if (!ok) {
        domain_customer_free(copy);
        return NULL;
    }
    return copy;
}

/* --- id indexes ---------------------------------------------------------------------- */

_Static_assert(offsetof(struct domain_reservation, id) == 0, "a reservation starts with its id");
_Static_assert(offsetof(struct domain_savings_plan, id) == 0, "a savings plan starts with its id");
_Static_assert(LEDGER_CUSTOMER_RESERVATIONS_MAX < UINT32_MAX &&
                   LEDGER_CUSTOMER_SAVINGS_PLANS_MAX < UINT32_MAX,
               "positions fit a slot");

static size_t id_slot(const char *id, size_t capacity)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)id; *c != '\0'; c++) {
        h ^= *c;
        h *= UINT64_C(1099511628211);
    }
    return (size_t)(h & (capacity - 1));
}

static void id_index_place(uint32_t *slots, size_t capacity, const char *id, size_t position)
{
    size_t slot = id_slot(id, capacity);
    while (slots[slot] != 0)
        slot = (slot + 1) & (capacity - 1);
    slots[slot] = (uint32_t)(position + 1);
}

/* Room for `wanted` items in all (the first `count` of `items`, each `stride`
 * bytes, are indexed already), so that domain__id_index_add cannot fail. */
enum ledger_err domain__id_index_reserve(struct domain_id_index *index, const void *items,
                                         size_t stride, size_t count, size_t wanted)
{
    if (wanted * 2 <= index->capacity)
        return LEDGER_ERR_OK;
    size_t capacity = index->capacity ? index->capacity : 16;
    while (capacity < wanted * 2)
        capacity *= 2;
    uint32_t *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL)
        return LEDGER_ERR_NO_MEMORY;
    for (size_t i = 0; i < count; i++)
        id_index_place(slots, capacity, (const char *)items + i * stride, i);
    free(index->slots);
    index->slots = slots;
    index->capacity = capacity;
    return LEDGER_ERR_OK;
}

/* Indexes item `position` (room reserved by domain__id_index_reserve). */
void domain__id_index_add(struct domain_id_index *index, const void *items, size_t stride,
                          size_t position)
{
    id_index_place(index->slots, index->capacity, (const char *)items + position * stride,
                   position);
}

/* The position of the item with this id, or -1. */
static long id_index_find(const struct domain_id_index *index, const void *items, size_t stride,
                          const char *id)
{
    if (index->capacity == 0)
        return -1;
    for (size_t slot = id_slot(id, index->capacity); index->slots[slot] != 0;
         slot = (slot + 1) & (index->capacity - 1)) {
        size_t position = index->slots[slot] - 1;
        if (strcmp((const char *)items + position * stride, id) == 0)
            return (long)position;
    }
    return -1;
}

struct domain_reservation *domain__find_reservation(const struct domain_customer *customer,
                                                    const char *reservation_id)
{
    if (customer == NULL || reservation_id == NULL)
        return NULL;
    long position = id_index_find(&customer->reservation_ids, customer->reservations,
                                  sizeof *customer->reservations, reservation_id);
    return position < 0 ? NULL : &customer->reservations[position];
}

struct domain_savings_plan *domain__find_savings_plan(const struct domain_customer *customer,
                                                      const char *savings_plan_id)
{
    if (customer == NULL || savings_plan_id == NULL)
        return NULL;
    long position = id_index_find(&customer->savings_plan_ids, customer->savings_plans,
                                  sizeof *customer->savings_plans, savings_plan_id);
    return position < 0 ? NULL : &customer->savings_plans[position];
}

struct domain_subscription *domain__find_subscription(const struct domain_customer *customer,
                                                      const char *subscription_id)
{
    if (customer == NULL || subscription_id == NULL)
        return NULL;
    for (size_t i = 0; i < customer->subscription_count; i++) {
        if (strcmp(customer->subscriptions[i].id, subscription_id) == 0)
            return &customer->subscriptions[i];
    }
    return NULL;
}

/* The index of an assignment, or -1. */
long domain__find_role(const struct domain_customer *customer, const char *subscription_id,
                       const char *user, Ledger__V1__AzureRole role)
{
    for (size_t i = 0; i < customer->role_count; i++) {
        const struct domain_role_assignment *assignment = &customer->roles[i];
        if (assignment->role == role && strcmp(assignment->subscription_id, subscription_id) == 0 &&
            strcmp(assignment->user, user) == 0)
            return (long)i;
    }
    return -1;
}

bool domain__removal_matches(const struct domain_role_removal *removal, const char *subscription_id,
                             const char *user, Ledger__V1__AzureRole role)
{
    return removal->assignment.role == role &&
           strcmp(removal->assignment.subscription_id, subscription_id) == 0 &&
           strcmp(removal->assignment.user, user) == 0;
}

/* The latest-dated removal of an assignment (the later recorded of two dated
 * alike), or NULL when it was never removed. */
const struct domain_role_removal *domain__last_removal(const struct domain_customer *customer,
                                                       const char *subscription_id,
                                                       const char *user, Ledger__V1__AzureRole role)
{
    const struct domain_role_removal *last = NULL;
    for (size_t i = 0; i < customer->role_removal_count; i++) {
        const struct domain_role_removal *removal = &customer->role_removals[i];
        if (domain__removal_matches(removal, subscription_id, user, role) &&
            (last == NULL || removal->removed_us >= last->removed_us))
            last = removal;
    }
    return last;
}

/* The assignment of a role to a user on a subscription in force at `at_us`:
 * the one held now if it was assigned by then, else a removed one held from
 * its assignment's business time until its removal's; NULL when none was. */
const struct domain_role_assignment *domain__role_at(const struct domain_customer *customer,
                                                     const char *subscription_id, const char *user,
                                                     Ledger__V1__AzureRole role, int64_t at_us)
{
    long index = domain__find_role(customer, subscription_id, user, role);
    if (index >= 0 && customer->roles[index].assigned_us <= at_us)
        return &customer->roles[index];
    for (size_t i = customer->role_removal_count; i > 0; i--) {
        const struct domain_role_removal *removal = &customer->role_removals[i - 1];
        if (domain__removal_matches(removal, subscription_id, user, role) &&
            removal->assignment.assigned_us <= at_us && at_us < removal->removed_us)
            return &removal->assignment;
    }
    return NULL;
}

const struct domain_reservation *domain_find_reservation(const struct domain_customer *customer,
                                                         const char *reservation_id)
{
    return domain__find_reservation(customer, reservation_id);
}

const struct domain_savings_plan *domain_find_savings_plan(const struct domain_customer *customer,
                                                           const char *savings_plan_id)
{
    return domain__find_savings_plan(customer, savings_plan_id);
}

const struct domain_subscription *domain_find_subscription(const struct domain_customer *customer,
                                                           const char *subscription_id)
{
    return domain__find_subscription(customer, subscription_id);
}
