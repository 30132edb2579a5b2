-- Paid subscription periods only (trial-only rows never produced MRR), in
-- order per customer, with how each period began.
with paid as (
    select * from staging.stg_billing_subscriptions
    where started_at is not null
),

ordered as (
    select
        paid.*,
        row_number() over (
            partition by customer_id order by started_at, subscription_id
        ) as period_number,
        lag(ended_date) over (
            partition by customer_id order by started_at, subscription_id
        ) as previous_ended_date,
        lag(mrr_usd) over (
            partition by customer_id order by started_at, subscription_id
        ) as previous_mrr_usd
    from paid
)

select
    subscription_id,
    customer_id,
    plan,
    status,
    end_reason,
    currency,
    mrr_local,
    mrr_usd,
    started_at,
    ended_at,
    started_date,
    ended_date,
    trial_start is not null as started_from_trial,
    period_number,
    previous_ended_date,
    case
        when period_number = 1 then 'new'
        when previous_ended_date < started_date then 'reactivation'
        when mrr_usd > previous_mrr_usd then 'upgrade'
        when mrr_usd < previous_mrr_usd then 'downgrade'
        else 'renewal'
    end as start_kind
from ordered
