/*
 * domain.h: the business rules of docs/domain.md, as pure functions.
 *
 * Owns: deciding a command (principal + command + the state it touches + time
 * -> one event, or a refusal with its own error code and a message saying what
 * failed), and evolving a customer's state by one event. Authorization by role
 * and partner (the table is in policy.h) is part of deciding.
 * Does not own: storage, the clock, sockets, or any I/O. Every input arrives in
 * struct domain_input; nothing here reads a file or the time. That is what
 * makes decisions replayable and testable.
 *
 * Invariants: one command decides to exactly one event or to a refusal; a
 * refusal changes nothing. Evolving a state by the events of its stream in
 * order gives the state the decisions saw.
 */
#ifndef LEDGER_DOMAIN_H
#define LEDGER_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "error.h"
#include "ledger_limits.h"

#define DOMAIN_ID_SIZE       (LEDGER_ID_LENGTH_MAX + 1)
#define DOMAIN_MESSAGE_SIZE  384
#define DOMAIN_CURRENCY_SIZE 4
/* Principal ids the ledger keeps for itself (domain_principal_id_reserved):
 * AddPrincipal refuses them, so that no one can act, or claim command ids,
 * in the name of the ledger's own schedule, nor be mistaken in the log for
 * the ledger adding its first operator. */
#define DOMAIN_RESERVED_ID_PREFIX "ledger:"
/* The principal (role system) that records expiries found by the daemon's
 * schedule (engine_expire). */
#define DOMAIN_SYSTEM_PRINCIPAL_ID "ledger:expiry"
/* The actor of event 1, the first operator's PrincipalAdded, recorded by
 * `ledgerd init` (a name older than the prefix, kept so that existing logs
 * mean what they say). */
#define DOMAIN_INIT_PRINCIPAL_ID "ledgerd-init"

/* Who is acting: the authenticated principal (strings borrowed). */
struct domain_principal {
    const char *id;
    Ledger__V1__Role role;
    const char *partner_id;  /* "" for principals of all partners and operators */
    const char *customer_id; /* customer users only, else "" */
    const char *user;        /* customer users only, else "" */
};

struct domain_money {
    int64_t amount_minor;
    char currency[DOMAIN_CURRENCY_SIZE];
};

struct domain_scope {
    Ledger__V1__ScopeKind kind;
    char target[DOMAIN_ID_SIZE * 2];
};

struct domain_actor {
    char principal_id[DOMAIN_ID_SIZE];
    Ledger__V1__Role role;
    char user[DOMAIN_ID_SIZE];
};

struct domain_subscription {
    char id[DOMAIN_ID_SIZE];
    Ledger__V1__Offer offer;
    Ledger__V1__SubscriptionStatus status;
    int64_t purchased_us; /* the SubscriptionPurchased event's business time */
    uint64_t sequence;    /* the purchase */
};

/* One status change of a subscription, kept so that rules 2, 3 and 4 can be
 * decided at a command's business time: the status a subscription had then
 * is that of its latest change dated at or before then (active before any). */
struct domain_status_change {
    uint32_t subscription;                 /* its position in domain_customer.subscriptions */
    Ledger__V1__SubscriptionStatus status; /* the status it changed to */
    int64_t changed_us;                    /* the event's business time */
};

struct domain_role_assignment {
    char subscription_id[DOMAIN_ID_SIZE];
    char user[DOMAIN_ID_SIZE];
    Ledger__V1__AzureRole role;
    int64_t assigned_us; /* the RoleAssigned event's business time */
    uint64_t sequence;   /* the RoleAssigned event */
};

/* An assignment that was removed, kept so that rule 3 can be decided at a
 * purchase's business time: the role was held from assignment.assigned_us
 * until removed_us (the removal's moment itself excluded). */
struct domain_role_removal {
    struct domain_role_assignment assignment; /* as it was held */
    int64_t removed_us;                       /* the RoleRemoved event's business time */
    uint64_t removed_sequence;                /* the RoleRemoved event */
};

/* One switch change, kept for the permissions history and "as of". */
struct domain_permission_change {
    Ledger__V1__PermissionKind kind;
    bool enabled;
    int64_t changed_us;
    struct domain_actor changed_by;
    uint64_t sequence;
};

struct domain_reservation {
    char id[DOMAIN_ID_SIZE];
    char order_id[DOMAIN_ID_SIZE];
    char billing_subscription_id[DOMAIN_ID_SIZE];
    char sku[LEDGER_SKU_LENGTH_MAX + 1];
    char region[LEDGER_SKU_LENGTH_MAX + 1];
    uint32_t quantity;
    Ledger__V1__Term term;
    Ledger__V1__BillingPlan billing_plan;
    struct domain_scope scope;
    bool auto_renew;
    Ledger__V1__ReservationState state;
    int64_t starts_us;
    int64_t expires_us;
    Ledger__V1__Purchaser purchaser;
    struct domain_actor bought_by;
    struct domain_money price;
    struct domain_money retail_price;
    int64_t bought_us;      /* the business time of the event that made it (purchase,
                               exchange or renewal) */
    int64_t changed_us;     /* the business time of its last change (scope or auto-renew),
                               else bought_us: later commands are dated at or after it */
    int64_t ended_us;       /* the business time of the event that ended it (cancellation,
                               exchange, renewal or expiry); INT64_MAX while it is active.
                               Rule 10 reads [bought_us, ended_us) as when it was active. */
    uint64_t sequence;      /* the purchase event */
    uint64_t last_sequence; /* the last event that changed it */
};

struct domain_savings_plan {
    char id[DOMAIN_ID_SIZE];
    char billing_subscription_id[DOMAIN_ID_SIZE];
    struct domain_money hourly_commitment;
    Ledger__V1__Term term;
    Ledger__V1__BillingPlan billing_plan;
    struct domain_scope scope;
    bool auto_renew;
    bool renewed; /* its term ended in a SavingsPlanRenewed: no longer in force */
    int64_t starts_us;
    int64_t expires_us;
    Ledger__V1__Purchaser purchaser;
    struct domain_actor bought_by;
    struct domain_money price;
    struct domain_money retail_price;
    int64_t bought_us;      /* the business time of the event that made it (purchase or
                               renewal) */
    int64_t changed_us;     /* the business time of its purchase or last change (scope or
                               auto-renew): later changes are dated at or after it */
    uint64_t sequence;      /* the purchase event */
    uint64_t last_sequence; /* the last event that changed it */
};

struct domain_refund {
    int64_t at_us;
    int64_t usd_minor; /* the cancelled commitment rule 7 counts (domain__cancelled_usd) */
};

/* A customer's aggregate: everything a decision about it needs. Arrays grow on
 * demand up to the LEDGER_CUSTOMER_*_MAX limits. */
/* An open-addressing hash index of an array of items whose first field is
 * their id (char[DOMAIN_ID_SIZE]): slots hold position + 1, 0 is empty; at
 * most half full. Items are only ever appended, never removed. */
struct domain_id_index {
    uint32_t *slots;
    size_t capacity; /* 0 or a power of two */
};

struct domain_customer {
    char partner_id[DOMAIN_ID_SIZE];
    char customer_id[DOMAIN_ID_SIZE];
    char name[LEDGER_NAME_LENGTH_MAX + 1];
    bool onboarded;
    /* The CustomerOnboarded event's business time: no command of the
     * customer is dated before it (domain__need_customer), since there was no
     * customer then for a fact to be true of. */
    int64_t onboarded_us;
    uint64_t version; /* events in the customer's stream */
    bool retail_prices_visible;
    /* Current switches: index by Ledger__V1__PermissionKind (1, 2). */
    bool permission_on[3];
    uint64_t permission_sequence[3]; /* the grant in force, when on */

    struct domain_subscription *subscriptions;
    size_t subscription_count, subscription_capacity;
    struct domain_status_change *status_changes; /* in the order recorded */
    size_t status_change_count, status_change_capacity;
    struct domain_role_assignment *roles; /* held now */
    size_t role_count, role_capacity;
    struct domain_role_removal *role_removals; /* held once, in the order removed */
    size_t role_removal_count, role_removal_capacity;
    struct domain_permission_change *permission_changes;
    size_t permission_change_count, permission_change_capacity;
    struct domain_reservation *reservations;
    size_t reservation_count, reservation_capacity;
    struct domain_id_index reservation_ids; /* reservations by id */
    struct domain_savings_plan *savings_plans;
    size_t savings_plan_count, savings_plan_capacity;
    struct domain_id_index savings_plan_ids; /* savings plans by id */
    struct domain_refund *refunds;
    size_t refund_count, refund_capacity;
    /* Whether refunds were dropped from the full list (domain__prune_refunds),
     * and the latest date among them: a cancellation dated less than 365
     * days after it would share a window with refunds no longer counted. */
    bool refunds_dropped;
    int64_t refunds_dropped_last_us;
};

/* A new, empty customer state (not yet onboarded). NULL when out of memory. */
struct domain_customer *domain_customer_new(const char *partner_id, const char *customer_id);
/* A deep copy; NULL when out of memory. */
struct domain_customer *domain_customer_clone(const struct domain_customer *customer);
void domain_customer_free(struct domain_customer *customer);
/* The heap bytes a state holds: the struct and every array's capacity. */
size_t domain_customer_bytes(const struct domain_customer *customer);

/* Applies one event of the customer's stream (event->customer_id must be the
 * customer's, its stream_version the customer's version + 1). On any error
 * the state is unchanged. CORRUPT when the event does not fit the state (a
 * record that should never have been written: an unknown schema version, a
 * missing field, a reservation that does not exist, an array past its
 * LEDGER_CUSTOMER_*_MAX limit, which decisions never let happen), NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
domain_customer_evolve(struct domain_customer *customer, const Ledger__V1__Event *event);

/* Replays one event of the customer's stream, in sequence order, into two
 * states: `known`, every event (domain_customer_evolve, whose errors it
 * returns), and `dated`, what was true at the business time `dated_us` as
 * the log tells it now. The event goes into `dated` when its business time
 * (domain_event_business_us) is at or before dated_us and everything it
 * acts on is there: the customer's onboarding (every event); the
 * subscription (a status change from the status it has, a role
 * assignment); the assignment a removal ends; the switch in the other
 * position (a permission change); the billing subscriptions
 * (domain_event_billing_subscriptions) of a purchase, renewal or exchange;
 * the reservations and savings plans a change, ending, renewal or exchange
 * acts on. Otherwise it is left out, and so, in turn, is whatever acts on
 * what it would have made: a log whose events are dated out of order (a
 * purchase dated before its customer's onboarding or its subscription, a
 * change dated before its purchase) never fails the replay nor makes a
 * state `known` could not hold. *included_out (may be NULL) says which, on
 * OK. Both states start from domain_customer_new and see the same events.
 * CORRUPT (the event does not fit `known`): both states are as they were;
 * NO_MEMORY: neither may be used further. */
__attribute__((warn_unused_result)) enum ledger_err
domain_customer_evolve_dated(struct domain_customer *known, struct domain_customer *dated,
                             const Ledger__V1__Event *event, int64_t dated_us, bool *included_out);

/* Lookups used by decisions and by views' "as of" answers. NULL if absent. */
const struct domain_reservation *domain_find_reservation(const struct domain_customer *customer,
                                                         const char *reservation_id);
const struct domain_savings_plan *domain_find_savings_plan(const struct domain_customer *customer,
                                                           const char *savings_plan_id);
const struct domain_subscription *domain_find_subscription(const struct domain_customer *customer,
                                                           const char *subscription_id);

/* Whether a command belongs to a customer's stream (needs input->customer).
 * False for AddPartner, AddPrincipal, RevokePrincipal, RotatePrincipalSecret
 * and unknown cases. */
bool domain_command_is_customer(Ledger__V1__Command__BodyCase body_case);

/* An event's business time: its business_us, or its recorded_us for the
 * records of builds that left business_us 0 (docs/events.md, `business_us`).
 * The rules and the views date events by it alike. */
int64_t domain_event_business_us(const Ledger__V1__Event *event);

/* The billing subscriptions a purchase event was charged to, each once, in
 * the order of its new reservations or savings plan: one for a
 * ReservationPurchased, SavingsPlanPurchased, ReservationRenewed or
 * SavingsPlanRenewed, one or more for a ReservationExchanged's replacements.
 * Written to ids (pointers into the event); returns how many (0 for any
 * other event, or one that names none). */
size_t domain_event_billing_subscriptions(const Ledger__V1__Event *event,
                                          const char *ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX]);

/* The months of a reservation's or savings plan's term (P1Y 12, P3Y 36, P5Y
 * 60), over which a monthly price is billed; 0 for a term this build does
 * not know. */
int domain_term_months(Ledger__V1__Term term);

/* Whether a principal id is one of the ledger's own: DOMAIN_INIT_PRINCIPAL_ID
 * or any id beginning DOMAIN_RESERVED_ID_PREFIX. */
bool domain_principal_id_reserved(const char *principal_id);

/* The partner a command acts on, for domain_input.partner_id: AddPartner's
 * new partner id; AddPrincipal's partner_id when it names one; otherwise
 * command->partner_id, or the principal's partner when that is empty. Never
 * NULL (may be ""); points into the command or the principal. */
const char *domain_command_partner_id(const struct domain_principal *principal,
                                      const Ledger__V1__Command *command);

/* The principal a command of principals names (AddPrincipal,
 * RevokePrincipal, RotatePrincipalSecret), whose row the engine looks up for
 * domain_input.principal_exists and what follows it; NULL for other commands
 * and for a command without its body. Points into the command. */
const char *domain_command_target_principal(const Ledger__V1__Command *command);

/* The customer a customer command acts on: command->customer_id, or a customer
 * user's own customer when that is empty; "" for other commands. Never NULL. */
const char *domain_command_customer_id(const struct domain_principal *principal,
                                       const Ledger__V1__Command *command);

/* Everything a decision may look at. All pointers borrowed. */
struct domain_input {
    const struct domain_principal *principal;
    const Ledger__V1__Command *command;
    /* The partner the command acts on: domain_command_partner_id(). AddPartner
     * and AddPrincipal are refused (INVALID_ARGUMENT) when this is not the
     * partner their body names, since partner_exists would then describe
     * another partner. */
    const char *partner_id;
    bool partner_exists;
    /* The customer's state when the command names a customer
     * (domain_command_is_customer), else NULL. A customer that was never
     * onboarded is passed as a state with onboarded false. Its partner_id and
     * customer_id must be the ones the command acts on (INTERNAL otherwise). */
    const struct domain_customer *customer;
    /* For AddPrincipal / RevokePrincipal / RotatePrincipalSecret: whether the
     * principal named exists, is revoked, and (RevokePrincipal,
     * RotatePrincipalSecret) the partner it is bound to ("" for a principal of
     * every partner, NULL taken as ""). A revocation or rotation is recorded
     * under that partner, whose auditors and activity log must see it; an
     * envelope naming another partner is refused (PARTNER_MISMATCH). */
    bool principal_exists;
    bool principal_revoked;
    const char *principal_partner_id;
    /* For AddPrincipal of a customer user: whether the customer it names was
     * onboarded by the command's partner (as the group sees it). */
    bool principal_customer_onboarded;
    /* For PurchaseSubscription: another customer of the command's partner
     * that bought the same subscription id (a subscription id names one
     * subscription of one customer, docs/domain.md, "Identities and their
     * scope"), as the engine found it (views_subscription_holder), and its
     * purchase's sequence; NULL or "" when none. */
    const char *subscription_holder_customer_id;
    uint64_t subscription_holder_sequence;
    /* For the commands that name a cloud order id (PurchaseReservation,
     * ExchangeReservation's replacements, RenewReservation,
     * PurchaseSavingsPlan, RenewSavingsPlan): the first id they name that a
     * purchase of a customer of the command's partner already recorded, as
     * the engine found it (views_cloud_order_holder), that customer and that
     * purchase's sequence; NULL or "" when none. */
    const char *cloud_order_held_id;
    const char *cloud_order_holder_customer_id;
    uint64_t cloud_order_holder_sequence;
    int64_t now_us;              /* recorded time of the event */
    uint64_t sequence;           /* the sequence the event will get: ids derive from it */
    const uint8_t *command_hash; /* 32 bytes, copied into the event */
};

/* The decision. On success `event` is a complete Event whose strings and
 * sub-messages point into this struct and into the input's command, so it is
 * valid while both live. */
struct domain_output {
    Ledger__V1__Event event;
    Ledger__V1__Actor actor;
    union {
        Ledger__V1__PartnerRegistered partner_registered;
        Ledger__V1__PrincipalAdded principal_added;
        Ledger__V1__PrincipalRevoked principal_revoked;
        Ledger__V1__PrincipalSecretRotated principal_secret_rotated;
        Ledger__V1__CustomerOnboarded customer_onboarded;
        Ledger__V1__SubscriptionPurchased subscription_purchased;
        Ledger__V1__SubscriptionStatusChanged subscription_status_changed;
        Ledger__V1__RoleAssigned role_assigned;
        Ledger__V1__RoleRemoved role_removed;
        Ledger__V1__PurchasePermissionGranted purchase_permission_granted;
        Ledger__V1__PurchasePermissionRevoked purchase_permission_revoked;
        Ledger__V1__ReservationScopeChanged reservation_scope_changed;
        Ledger__V1__ReservationRenewalSet reservation_renewal_set;
        Ledger__V1__ReservationRenewed reservation_renewed;
        Ledger__V1__ReservationExchanged reservation_exchanged;
        Ledger__V1__ReservationCancelled reservation_cancelled;
        Ledger__V1__ReservationExpired reservation_expired;
        Ledger__V1__SavingsPlanPurchased savings_plan_purchased;
        Ledger__V1__SavingsPlanScopeChanged savings_plan_scope_changed;
        Ledger__V1__SavingsPlanRenewalSet savings_plan_renewal_set;
        Ledger__V1__SavingsPlanRenewed savings_plan_renewed;
        Ledger__V1__CostVisibilitySet cost_visibility_set;
    } body;
    /* Storage for sub-messages and generated ids the event points to. A
     * purchase's or renewal's reservation is reservations[0]; an exchange's
     * replacements are reservations[0..n), listed in `replacements` for the
     * event's repeated field, each with its scope and ids of the same index.
     * domain_decide does not clear these six arrays (it writes an entry in
     * full before using it); it clears every other field. */
    Ledger__V1__ReservationPurchased reservations[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__ReservationPurchased *replacements[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__Scope reservation_scopes[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    char reservation_scope_targets[LEDGER_EXCHANGE_REPLACEMENTS_MAX][DOMAIN_ID_SIZE * 2];
    char order_ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX][DOMAIN_ID_SIZE];
    char reservation_ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX][DOMAIN_ID_SIZE];
    Ledger__V1__SavingsPlanPurchased savings_plan; /* a savings plan renewal's new plan */
    char savings_plan_id[DOMAIN_ID_SIZE];
    Ledger__V1__AllowedBy allowed_by;
    Ledger__V1__Scope scope_from, scope_to;
    Ledger__V1__Money money[4];
    char partner_id[DOMAIN_ID_SIZE];
    char customer_id[DOMAIN_ID_SIZE];
    /* Copies of the strings the event takes from the principal and from the
     * customer's state, so that the event stays valid when the state changes
     * (evolving it may move its arrays). */
    char actor_principal_id[DOMAIN_ID_SIZE];
    char actor_user[DOMAIN_ID_SIZE];
    char billing_subscription_id[DOMAIN_ID_SIZE];
    char sku[LEDGER_SKU_LENGTH_MAX + 1];
    char region[LEDGER_SKU_LENGTH_MAX + 1];
    char scope_from_target[DOMAIN_ID_SIZE * 2];
    char scope_to_target[DOMAIN_ID_SIZE * 2];
    char currencies[4][DOMAIN_CURRENCY_SIZE]; /* of money[0..3] */
    /* On refusal: what failed, in words a person can act on. */
    char message[DOMAIN_MESSAGE_SIZE];
};

/* Decides one command. OK fills out->event; any other code is a refusal with
 * out->message set, out->event left empty (body NOT_SET, sequence 0), and
 * nothing is to be appended. Refusals: every code of docs/events.md
 * ("Refusals"); INTERNAL when the input is inconsistent (a state of another
 * customer, a NULL the command needs). */
__attribute__((warn_unused_result)) enum ledger_err domain_decide(const struct domain_input *input,
                                                                  struct domain_output *out);

/* The activity log's action name of an event, e.g. "Create Customer Purchase
 * Permissions"; static storage. */
const char *domain_action_name(const Ledger__V1__Event *event);

/* The action name `name` stands for, compared without regard to case
 * ("purchase reservation" -> "Purchase Reservation"); static storage. NULL
 * when it is no action's name. */
const char *domain_action_lookup(const char *name);

/* Whether partner-facing views show this event (customer-bought savings plans
 * are not shown to partner staff, docs/domain.md). Decided from the event alone:
 * false for a SavingsPlanPurchased whose purchaser is the customer, and for a
 * SavingsPlanRenewed whose renewal's purchaser is (the renewal keeps the
 * renewed plan's purchaser, though the partner recorded it). The later
 * events of a savings plan (scope, auto-renew) do not say who bought it, so
 * they are true here: views hide them when the plan's purchase was hidden. */
bool domain_partner_visible(const Ledger__V1__Event *event);

#endif
