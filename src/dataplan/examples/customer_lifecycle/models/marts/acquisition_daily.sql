-- One row per day and acquisition channel (every pair present, zero-filled):
-- CRM leads, billing signups and trials, first payments and won deals.
-- Billing customers whose CRM reference matches no account land in 'unknown'.
with spine as (
    select date_day from intermediate.int_date_spine
),

leads as (
    select created_date as date_day, acquisition_channel as channel, count(*) as leads
    from staging.stg_crm_accounts
    group by created_date, acquisition_channel
),

signups as (
    select
        signup_date as date_day,
        acquisition_channel as channel,
        count(*) as signups,
        count(trial_start_date) as trials_started
    from intermediate.int_customer_spine
    group by signup_date, acquisition_channel
),

first_payments as (
    select
        movements.date_day,
        customers.acquisition_channel as channel,
        count(*) as new_customers,
        sum(movements.mrr_delta) as new_mrr
    from intermediate.int_mrr_movements as movements
    inner join intermediate.int_customer_spine as customers
        on movements.customer_id = customers.customer_id
    where movements.movement_type = 'new'
    group by movements.date_day, customers.acquisition_channel
),

won as (
    select
        opportunities.won_date as date_day,
        accounts.acquisition_channel as channel,
        count(*) as won_opportunities,
        sum(opportunities.amount_usd) as won_amount
    from staging.stg_crm_opportunities as opportunities
    inner join staging.stg_crm_accounts as accounts
        on opportunities.account_id = accounts.account_id
    where opportunities.won_date is not null
    group by opportunities.won_date, accounts.acquisition_channel
),

channels as (
    -- Every channel seen in the CRM or billing, from the aggregates above (no extra scan).
    select channel from leads
    union
    select channel from signups
    union
    select 'unknown' as channel
)

select
    spine.date_day,
    cast(channels.channel as varchar) as channel,
    cast(coalesce(leads.leads, 0) as bigint) as leads,
    cast(coalesce(signups.signups, 0) as bigint) as signups,
    cast(coalesce(signups.trials_started, 0) as bigint) as trials_started,
    cast(coalesce(first_payments.new_customers, 0) as bigint) as new_customers,
    cast(coalesce(first_payments.new_mrr, 0) as decimal(18, 2)) as new_mrr,
    cast(coalesce(won.won_opportunities, 0) as bigint) as won_opportunities,
    cast(coalesce(won.won_amount, 0) as decimal(18, 2)) as won_amount
from spine
cross join channels
left join leads on spine.date_day = leads.date_day and channels.channel = leads.channel
left join signups on spine.date_day = signups.date_day and channels.channel = signups.channel
left join first_payments
    on spine.date_day = first_payments.date_day and channels.channel = first_payments.channel
left join won on spine.date_day = won.date_day and channels.channel = won.channel
