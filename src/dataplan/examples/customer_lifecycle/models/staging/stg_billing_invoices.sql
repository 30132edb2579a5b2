-- One row per invoice at its latest status (open -> paid | uncollectible).
with versions as (
    select
        invoices.*,
        row_number() over (
            partition by invoice_id
            order by updated_at desc, dt desc
        ) as version_rank
    from billing.invoices as invoices
)

select
    cast(versions.invoice_id as varchar) as invoice_id,
    cast(versions.customer_id as varchar) as customer_id,
    cast(versions.subscription_id as varchar) as subscription_id,
    cast(versions.status as varchar) as status,
    cast(upper(versions.currency) as varchar) as currency,
    cast(versions.amount_cents * 0.01 as decimal(18, 2)) as amount_local,
    cast(versions.amount_cents * 0.01 * fx.usd_rate as decimal(18, 2)) as amount_usd,
    cast(versions.issued_at as timestamp) as issued_at,
    cast(versions.issued_at as date) as issued_date,
    cast(versions.paid_at as timestamp) as paid_at,
    cast(versions.updated_at as timestamp) as updated_at,
    cast(versions.dt as date) as load_date
from versions
left join staging.stg_fx_rates as fx on upper(versions.currency) = fx.currency
where versions.version_rank = 1
