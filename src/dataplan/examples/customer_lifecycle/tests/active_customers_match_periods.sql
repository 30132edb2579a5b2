-- At every month end, the paying customers of the daily mart (a running sum
-- of new, reactivated and churned customers) equal the customers with an
-- active paid subscription period that day.
with month_ends as (
    select max(date_day) as date_day
    from marts.customer_lifecycle_daily
    group by cast(date_trunc('month', date_day) as date)
),

paying as (
    select month_ends.date_day, count(distinct periods.customer_id) as customers
    from month_ends
    left join intermediate.int_subscription_periods as periods
        on periods.started_date <= month_ends.date_day
        and (periods.ended_date is null or periods.ended_date > month_ends.date_day)
    group by month_ends.date_day
)

select paying.date_day, paying.customers as expected, daily.active_customers as actual
from paying
inner join marts.customer_lifecycle_daily as daily on paying.date_day = daily.date_day
where paying.customers <> daily.active_customers
