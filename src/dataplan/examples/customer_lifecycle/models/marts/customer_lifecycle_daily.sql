-- One row per day: acquisition, paying customers, MRR and its movements,
-- 30-day revenue retention, cash collected and support load.
-- Movement MRR columns are signed (contraction and churn are negative), so
-- new + expansion + contraction + churned + reactivation = net_new = the day's MRR change.
with spine as (
    select date_day from intermediate.int_date_spine
),

movements as (
    select
        date_day,
        count(case when movement_type = 'new' then 1 end) as new_customers,
        count(case when movement_type = 'reactivation' then 1 end) as reactivated_customers,
        count(case when movement_type = 'churn' then 1 end) as churned_customers,
        sum(case when movement_type = 'new' then mrr_delta else 0 end) as new_mrr,
        sum(case when movement_type = 'expansion' then mrr_delta else 0 end) as expansion_mrr,
        sum(case when movement_type = 'contraction' then mrr_delta else 0 end) as contraction_mrr,
        sum(case when movement_type = 'churn' then mrr_delta else 0 end) as churned_mrr,
        sum(case when movement_type = 'reactivation' then mrr_delta else 0 end)
            as reactivation_mrr,
        sum(mrr_delta) as net_new_mrr
    from intermediate.int_mrr_movements
    group by date_day
),

signups as (
    select
        signup_date as date_day,
        count(*) as signups,
        count(trial_start_date) as trials_started
    from intermediate.int_customer_spine
    group by signup_date
),

cash as (
    -- Payments read once: amounts by (paid day, refund day); the two CTEs below split them.
    select
        cast(paid_at as date) as paid_date,
        cast(refunded_at as date) as refund_date,
        sum(amount_usd) as amount_usd
    from staging.stg_billing_payments
    where paid_at is not null
    group by cast(paid_at as date), cast(refunded_at as date)
),

collected as (
    select paid_date as date_day, sum(amount_usd) as collected_revenue
    from cash
    group by paid_date
),

refunded as (
    select refund_date as date_day, sum(amount_usd) as refunded_revenue
    from cash
    where refund_date is not null
    group by refund_date
),

tickets as (
    select created_date as date_day, count(*) as tickets_created
    from staging.stg_support_tickets
    group by created_date
),

daily as (
    select
        spine.date_day,
        coalesce(signups.signups, 0) as signups,
        coalesce(signups.trials_started, 0) as trials_started,
        coalesce(movements.new_customers, 0) as new_customers,
        coalesce(movements.reactivated_customers, 0) as reactivated_customers,
        coalesce(movements.churned_customers, 0) as churned_customers,
        coalesce(movements.new_mrr, 0) as new_mrr,
        coalesce(movements.expansion_mrr, 0) as expansion_mrr,
        coalesce(movements.contraction_mrr, 0) as contraction_mrr,
        coalesce(movements.churned_mrr, 0) as churned_mrr,
        coalesce(movements.reactivation_mrr, 0) as reactivation_mrr,
        coalesce(movements.net_new_mrr, 0) as net_new_mrr,
        coalesce(collected.collected_revenue, 0) as collected_revenue,
        coalesce(refunded.refunded_revenue, 0) as refunded_revenue,
        coalesce(tickets.tickets_created, 0) as tickets_created
    from spine
    left join movements on spine.date_day = movements.date_day
    left join signups on spine.date_day = signups.date_day
    left join collected on spine.date_day = collected.date_day
    left join refunded on spine.date_day = refunded.date_day
    left join tickets on spine.date_day = tickets.date_day
),

running as (
    select
        daily.*,
        sum(new_customers + reactivated_customers - churned_customers) over (
            order by date_day rows between unbounded preceding and current row
        ) as active_customers,
        sum(net_new_mrr) over (
            order by date_day rows between unbounded preceding and current row
        ) as mrr
    from daily
),

trailing_window as (
    -- Retention over the trailing 30 days, from the MRR 30 days earlier and the
    -- movements since; new and reactivated MRR do not count as retained.
    select
        running.*,
        lag(mrr, 30) over (order by date_day) as mrr_30d_ago,
        sum(expansion_mrr) over (
            order by date_day rows between 29 preceding and current row
        ) as expansion_30d,
        sum(contraction_mrr + churned_mrr) over (
            order by date_day rows between 29 preceding and current row
        ) as lost_30d
    from running
)

select
    date_day,
    cast(signups as bigint) as signups,
    cast(trials_started as bigint) as trials_started,
    cast(new_customers as bigint) as new_customers,
    cast(reactivated_customers as bigint) as reactivated_customers,
    cast(churned_customers as bigint) as churned_customers,
    cast(active_customers as bigint) as active_customers,
    cast(mrr as decimal(18, 2)) as mrr,
    cast(new_mrr as decimal(18, 2)) as new_mrr,
    cast(expansion_mrr as decimal(18, 2)) as expansion_mrr,
    cast(contraction_mrr as decimal(18, 2)) as contraction_mrr,
    cast(churned_mrr as decimal(18, 2)) as churned_mrr,
    cast(reactivation_mrr as decimal(18, 2)) as reactivation_mrr,
    cast(net_new_mrr as decimal(18, 2)) as net_new_mrr,
    -- Clamped: customers both new and churned inside the window can push the
    -- ratio past its natural bounds while the base is tiny (the first weeks).
    cast(
        case
            when mrr_30d_ago > 0
                then greatest(0, least(1, (mrr_30d_ago + lost_30d) / mrr_30d_ago))
        end as double
    ) as gross_revenue_retention,
    cast(
        case
            when mrr_30d_ago > 0
                then greatest(0, (mrr_30d_ago + expansion_30d + lost_30d) / mrr_30d_ago)
        end as double
    ) as net_revenue_retention,
    cast(collected_revenue as decimal(18, 2)) as collected_revenue,
    cast(refunded_revenue as decimal(18, 2)) as refunded_revenue,
    cast(collected_revenue - refunded_revenue as decimal(18, 2)) as net_revenue,
    cast(tickets_created as bigint) as tickets_created,
    cast(
        case
            when active_customers > 0 then 100.0 * tickets_created / active_customers
        end as double
    ) as tickets_per_100_active
from trailing_window
