-- One row per CRM account that is a billing customer: lifecycle status,
-- current MRR, recent support and payment signals, and a churn risk score in
-- [0, 1] (logistic on the signals that drive churn: open tickets, failed
-- payments, low satisfaction, recent contraction; tenure lowers it).
with as_of as (
    select max(date_day) as as_of_date from intermediate.int_date_spine
),

customers as (
    select * from intermediate.int_customer_spine where is_crm_matched
),

periods as (
    select * from intermediate.int_subscription_periods
),

current_periods as (
    select periods.customer_id, sum(periods.mrr_usd) as current_mrr, max(periods.plan) as plan
    from periods
    cross join as_of
    where periods.started_date <= as_of.as_of_date
        and (periods.ended_date is null or periods.ended_date > as_of.as_of_date)
    group by periods.customer_id
),

history as (
    select
        customer_id,
        min(started_date) as first_paid_date,
        count(case when start_kind = 'reactivation' then 1 end) as reactivations
    from periods
    group by customer_id
),

tickets as (
    select
        tickets.account_id,
        count(case when tickets.created_date > as_of.as_of_date - 90 then 1 end) as tickets_90d,
        count(case when tickets.solved_at is null then 1 end) as open_tickets,
        avg(case when tickets.created_date > as_of.as_of_date - 90 then tickets.csat end)
            as avg_csat_90d
    from staging.stg_support_tickets as tickets
    cross join as_of
    group by tickets.account_id
),

payments as (
    select
        payments.customer_id,
        count(
            case
                when payments.status = 'failed'
                    and payments.created_date > as_of.as_of_date - 90 then 1
            end
        ) as failed_payments_90d
    from staging.stg_billing_payments as payments
    cross join as_of
    group by payments.customer_id
),

contractions as (
    select movements.customer_id, count(*) as contractions_90d
    from intermediate.int_mrr_movements as movements
    cross join as_of
    where movements.movement_type = 'contraction'
        and movements.date_day > as_of.as_of_date - 90
    group by movements.customer_id
),

signals as (
    select
        customers.account_id,
        customers.customer_id,
        customers.account_name,
        customers.industry,
        customers.region,
        customers.acquisition_channel,
        case
            when current_periods.current_mrr > 0 then 'active'
            when history.first_paid_date is not null then 'churned'
            when customers.trial_end > as_of.as_of_date then 'trialing'
            else 'never_converted'
        end as lifecycle_status,
        current_periods.plan,
        coalesce(current_periods.current_mrr, 0) as current_mrr,
        history.first_paid_date,
        coalesce(as_of.as_of_date - history.first_paid_date, 0) as tenure_days,
        coalesce(history.reactivations, 0) as reactivations,
        coalesce(tickets.tickets_90d, 0) as tickets_90d,
        coalesce(tickets.open_tickets, 0) as open_tickets,
        tickets.avg_csat_90d,
        coalesce(payments.failed_payments_90d, 0) as failed_payments_90d,
        coalesce(contractions.contractions_90d, 0) as contractions_90d
    from customers
    cross join as_of
    left join current_periods on customers.customer_id = current_periods.customer_id
    left join history on customers.customer_id = history.customer_id
    left join tickets on customers.account_id = tickets.account_id
    left join payments on customers.customer_id = payments.customer_id
    left join contractions on customers.customer_id = contractions.customer_id
),

scored as (
    select
        signals.*,
        -2.6
        + 0.9 * least(open_tickets, 3)
        + 0.2 * least(tickets_90d, 10)
        + 0.7 * least(failed_payments_90d, 4)
        + case when avg_csat_90d < 3 then 0.8 else 0 end
        + 0.6 * least(contractions_90d, 2)
        + case when reactivations > 0 then 0.4 else 0 end
        - 0.25 * ln(1 + tenure_days / 30.0) as risk_logit
    from signals
)

select
    cast(account_id as varchar) as account_id,
    cast(customer_id as varchar) as customer_id,
    cast(account_name as varchar) as account_name,
    cast(industry as varchar) as industry,
    cast(region as varchar) as region,
    cast(acquisition_channel as varchar) as acquisition_channel,
    cast(lifecycle_status as varchar) as lifecycle_status,
    cast(plan as varchar) as plan,
    cast(current_mrr as decimal(18, 2)) as current_mrr,
    first_paid_date,
    cast(tenure_days as integer) as tenure_days,
    cast(tickets_90d as bigint) as tickets_90d,
    cast(open_tickets as bigint) as open_tickets,
    cast(avg_csat_90d as double) as avg_csat_90d,
    cast(failed_payments_90d as bigint) as failed_payments_90d,
    cast(contractions_90d as bigint) as contractions_90d,
    -- A churned account has already churned: its risk is certain.
    cast(
        case
            when lifecycle_status = 'churned' then 1.0
            else 1.0 / (1.0 + exp(-risk_logit))
        end as double
    ) as churn_risk_score,
    cast(
        case
            when lifecycle_status = 'churned' then 'churned'
            when 1.0 / (1.0 + exp(-risk_logit)) >= 0.5 then 'high'
            when 1.0 / (1.0 + exp(-risk_logit)) >= 0.25 then 'medium'
            else 'low'
        end as varchar
    ) as risk_band
from scored
