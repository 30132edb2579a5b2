-- One row per billing customer with its CRM account attributes (when the
-- billing system's CRM reference matches), trial/paid milestones and support
-- volume: the join point of the three systems.
with customers as (
    select * from staging.stg_billing_customers
),

accounts as (
    select * from staging.stg_crm_accounts
),

subscriptions as (
    select
        customer_id,
        min(trial_start) as first_trial_start,
        max(trial_end) as trial_end,
        min(started_date) as first_paid_date,
        count(started_at) as paid_periods
    from staging.stg_billing_subscriptions
    group by customer_id
),

tickets as (
    select account_id, count(*) as lifetime_tickets
    from staging.stg_support_tickets
    group by account_id
)

select
    customers.customer_id,
    customers.crm_account_id,
    accounts.account_id is not null as is_crm_matched,
    accounts.account_id,
    accounts.account_name,
    coalesce(accounts.industry, 'unknown') as industry,
    coalesce(accounts.region, 'unknown') as region,
    coalesce(accounts.acquisition_channel, 'unknown') as acquisition_channel,
    customers.currency,
    customers.created_at as signup_at,
    customers.signup_date,
    subscriptions.first_trial_start,
    cast(subscriptions.first_trial_start as date) as trial_start_date,
    subscriptions.trial_end,
    subscriptions.first_paid_date,
    coalesce(subscriptions.paid_periods, 0) as paid_periods,
    coalesce(tickets.lifetime_tickets, 0) as lifetime_tickets
from customers
left join accounts on customers.crm_account_id = accounts.account_id
left join subscriptions on customers.customer_id = subscriptions.customer_id
left join tickets on accounts.account_id = tickets.account_id
