-- One row per payment attempt at its latest status (succeeded may become refunded).
with versions as (
    select
        payments.*,
        row_number() over (
            partition by payment_id
            order by updated_at desc, dt desc
        ) as version_rank
    from billing.payments as payments
)

select
    cast(versions.payment_id as varchar) as payment_id,
    cast(versions.invoice_id as varchar) as invoice_id,
    cast(versions.customer_id as varchar) as customer_id,
    cast(versions.status as varchar) as status,
    cast(versions.failure_code as varchar) as failure_code,
    cast(upper(versions.currency) as varchar) as currency,
    cast(versions.amount_cents * 0.01 as decimal(18, 2)) as amount_local,
    cast(versions.amount_cents * 0.01 * fx.usd_rate as decimal(18, 2)) as amount_usd,
    cast(versions.created_at as timestamp) as created_at,
    cast(versions.created_at as date) as created_date,
    cast(versions.paid_at as timestamp) as paid_at,
    cast(versions.refunded_at as timestamp) as refunded_at,
    cast(versions.updated_at as timestamp) as updated_at,
    cast(versions.dt as date) as load_date
from versions
left join staging.stg_fx_rates as fx on upper(versions.currency) = fx.currency
where versions.version_rank = 1
