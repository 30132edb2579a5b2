select
    customer_id,
    count(*) as orders,
    sum(case when status = 'paid' then amount else 0 end) as paid_amount,
    min(ordered_at) as first_ordered_at
from staging.stg_orders
group by customer_id
