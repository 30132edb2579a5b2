-- One row per customer per day on which the customer's MRR changed, with the
-- movement type. A customer's MRR is the sum of its periods active that day
-- (started_date <= day < ended_date), so MRR only changes where a period
-- starts or ends; a plan change ends one period the day the next starts.
with changes as (
    select customer_id, started_date as date_day, mrr_usd as mrr_delta
    from intermediate.int_subscription_periods
    union all
    select customer_id, ended_date as date_day, -mrr_usd as mrr_delta
    from intermediate.int_subscription_periods
    where ended_date is not null
),

daily as (
    select customer_id, date_day, sum(mrr_delta) as mrr_delta
    from changes
    group by customer_id, date_day
),

running as (
    select
        customer_id,
        date_day,
        mrr_delta,
        sum(mrr_delta) over (
            partition by customer_id
            order by date_day
            rows between unbounded preceding and current row
        ) as mrr_after,
        row_number() over (partition by customer_id order by date_day) as change_number
    from daily
)

select
    customer_id,
    date_day,
    cast(mrr_after - mrr_delta as decimal(18, 2)) as mrr_before,
    cast(mrr_after as decimal(18, 2)) as mrr_after,
    cast(mrr_delta as decimal(18, 2)) as mrr_delta,
    case
        when mrr_after - mrr_delta = 0 and change_number = 1 then 'new'
        when mrr_after - mrr_delta = 0 then 'reactivation'
        when mrr_after = 0 then 'churn'
        when mrr_delta > 0 then 'expansion'
        else 'contraction'
    end as movement_type
from running
where mrr_delta <> 0
