WITH "__dp_x" AS (
  SELECT
    "region" AS "k0",
    "id" AS "k1",
    HASHTEXTEXTENDED(CAST(ROW(CAST("amount" AS DOUBLE PRECISION), CAST("price" AS VARCHAR)) AS TEXT), 0) AS "h"
  FROM "s"."a"
), "__dp_y" AS (
  SELECT
    "region" AS "k0",
    "id" AS "k1",
    HASHTEXTEXTENDED(CAST(ROW(CAST("amount" AS DOUBLE PRECISION), CAST("price" AS VARCHAR)) AS TEXT), 0) AS "h"
  FROM "s"."b"
), "__dp_j" AS MATERIALIZED (
  SELECT
    "__dp_x"."k0" AS "ak0",
    "__dp_x"."k1" AS "ak1",
    "__dp_y"."k0" AS "bk0",
    "__dp_y"."k1" AS "bk1",
    "__dp_x"."h" AS "ha",
    "__dp_y"."h" AS "hb"
  FROM "__dp_x"
  FULL OUTER JOIN "__dp_y"
    ON "__dp_x"."k0" = "__dp_y"."k0" AND "__dp_x"."k1" = "__dp_y"."k1"
  LIMIT 1001
), "__dp_f" AS MATERIALIZED (
  SELECT
    "ha",
    "hb",
    "ak0",
    "ak1",
    "bk0",
    "bk1"
  FROM "__dp_j"
  WHERE
    "ha" IS NULL OR "hb" IS NULL OR "ha" <> "hb"
), "__dp_s" AS MATERIALIZED (
  SELECT
    COUNT(*) AS "nj",
    COUNT("ha") AS "spa",
    COUNT("hb") AS "spb",
    (
      SELECT
        COUNT(*)
      FROM "s"."a"
    ) AS "na",
    (
      SELECT
        COUNT(*)
      FROM "s"."b"
    ) AS "nb"
  FROM "__dp_j"
), "__dp_fs" AS MATERIALIZED (
  SELECT
    COALESCE(SUM(CASE WHEN "hb" IS NULL THEN 1 ELSE 0 END), 0) AS "only_a",
    COALESCE(SUM(CASE WHEN "ha" IS NULL THEN 1 ELSE 0 END), 0) AS "only_b",
    COALESCE(SUM(CASE WHEN NOT "ha" IS NULL AND NOT "hb" IS NULL THEN 1 ELSE 0 END), 0) AS "differ",
    COALESCE(
      SUM(
        CASE WHEN "hb" IS NULL AND (
          "ak0" IS NULL OR "ak1" IS NULL
        ) THEN 1 ELSE 0 END
      ),
      0
    ) AS "null_a",
    COALESCE(
      SUM(
        CASE WHEN "ha" IS NULL AND (
          "bk0" IS NULL OR "bk1" IS NULL
        ) THEN 1 ELSE 0 END
      ),
      0
    ) AS "null_b"
  FROM "__dp_f"
), "__dp_d" AS MATERIALIZED (
  SELECT
    (
      SELECT
        COUNT(*)
      FROM (
        SELECT
          "ak0",
          "ak1"
        FROM "__dp_f"
        WHERE
          "hb" IS NULL
          AND NOT "ha" IS NULL
          AND (
            NOT "ak0" IS NULL AND NOT "ak1" IS NULL
          )
        GROUP BY
          "ak0",
          "ak1"
        HAVING
          COUNT(*) > 1
      ) AS "ra"
    ) AS "dup_a",
    (
      SELECT
        COUNT(*)
      FROM (
        SELECT
          "bk0",
          "bk1"
        FROM "__dp_f"
        WHERE
          "ha" IS NULL
          AND NOT "hb" IS NULL
          AND (
            NOT "bk0" IS NULL AND NOT "bk1" IS NULL
          )
        GROUP BY
          "bk0",
          "bk1"
        HAVING
          COUNT(*) > 1
      ) AS "rb"
    ) AS "dup_b"
), "__dp_ok" AS MATERIALIZED (
  SELECT
    CASE
      WHEN "spa" = "na"
      AND "spb" = "nb"
      AND "nj" <= (
        "na" + "nb"
      )
      AND "null_a" = 0
      AND "null_b" = 0
      AND "dup_a" = 0
      AND "dup_b" = 0
      THEN 1
      ELSE 0
    END AS "good"
  FROM "__dp_s"
  CROSS JOIN "__dp_fs"
  CROSS JOIN "__dp_d"
), "__dp_picks" AS MATERIALIZED (
  SELECT
    "pk"."k0",
    "pk"."k1"
  FROM (
    SELECT
      "ak0" AS "k0",
      "ak1" AS "k1"
    FROM "__dp_f"
    WHERE
      NOT "ha" IS NULL AND NOT "hb" IS NULL
    UNION ALL
    SELECT
      "k0",
      "k1"
    FROM (
      SELECT
        "ak0" AS "k0",
        "ak1" AS "k1"
      FROM "__dp_f"
      WHERE
        "hb" IS NULL AND NOT "ha" IS NULL
      ORDER BY
        "ak0",
        "ak1"
      LIMIT 10
    ) AS "first_ak"
    UNION ALL
    SELECT
      "k0",
      "k1"
    FROM (
      SELECT
        "bk0" AS "k0",
        "bk1" AS "k1"
      FROM "__dp_f"
      WHERE
        "ha" IS NULL AND NOT "hb" IS NULL
      ORDER BY
        "bk0",
        "bk1"
      LIMIT 10
    ) AS "first_bk"
  ) AS "pk"
  CROSS JOIN "__dp_ok"
  WHERE
    "good" = 1
), "__dp_va" AS (
  SELECT
    "da".*
  FROM (
    SELECT
      1 AS "p",
      "region" AS "k0",
      "id" AS "k1",
      "region" AS "r0",
      "id" AS "r1",
      "amount" AS "c0",
      "price" AS "c1"
    FROM "s"."a"
  ) AS "da"
  JOIN "__dp_picks"
    ON "da"."k0" = "__dp_picks"."k0" AND "da"."k1" = "__dp_picks"."k1"
), "__dp_vb" AS (
  SELECT
    "db".*
  FROM (
    SELECT
      1 AS "p",
      "region" AS "k0",
      "id" AS "k1",
      "region" AS "r0",
      "id" AS "r1",
      "amount" AS "c0",
      "price" AS "c1"
    FROM "s"."b"
  ) AS "db"
  JOIN "__dp_picks"
    ON "db"."k0" = "__dp_picks"."k0" AND "db"."k1" = "__dp_picks"."k1"
), "__dp_v" AS MATERIALIZED (
  SELECT
    "__dp_va"."p" AS "pa",
    "__dp_vb"."p" AS "pb",
    "__dp_va"."r0" AS "ak0",
    "__dp_va"."r1" AS "ak1",
    "__dp_vb"."r0" AS "bk0",
    "__dp_vb"."r1" AS "bk1",
    "__dp_va"."c0" AS "ac0",
    "__dp_va"."c1" AS "ac1",
    "__dp_vb"."c0" AS "bc0",
    "__dp_vb"."c1" AS "bc1",
    CASE
      WHEN NOT COALESCE(
        (
          CAST("__dp_va"."c0" AS DOUBLE PRECISION) IS NOT DISTINCT FROM CAST("__dp_vb"."c0" AS DOUBLE PRECISION)
          OR (
            (
              CAST("__dp_va"."c0" AS DOUBLE PRECISION) - CAST("__dp_va"."c0" AS DOUBLE PRECISION) = CAST(0.0 AS DOUBLE PRECISION)
              AND CAST("__dp_vb"."c0" AS DOUBLE PRECISION) - CAST("__dp_vb"."c0" AS DOUBLE PRECISION) = CAST(0.0 AS DOUBLE PRECISION)
            )
            AND ABS(
              CAST("__dp_va"."c0" AS DOUBLE PRECISION) - CAST("__dp_vb"."c0" AS DOUBLE PRECISION)
            ) <= CAST(0.0 AS DOUBLE PRECISION) + CAST(1e-09 AS DOUBLE PRECISION) * GREATEST(
              ABS(CAST("__dp_va"."c0" AS DOUBLE PRECISION)),
              ABS(CAST("__dp_vb"."c0" AS DOUBLE PRECISION))
            )
          )
        ),
        FALSE
      )
      THEN 1
      ELSE 0
    END AS "m0",
    CASE
      WHEN NOT COALESCE((
        "__dp_va"."c1" IS NOT DISTINCT FROM "__dp_vb"."c1"
      ), FALSE)
      THEN 1
      ELSE 0
    END AS "m1"
  FROM "__dp_va"
  FULL OUTER JOIN "__dp_vb"
    ON "__dp_va"."k0" = "__dp_vb"."k0" AND "__dp_va"."k1" = "__dp_vb"."k1"
), "__dp_vs" AS (
  SELECT
    COALESCE(
      SUM(
        CASE
          WHEN (
            NOT "pa" IS NULL AND NOT "pb" IS NULL
          ) AND (
            "m0" + "m1"
          ) > 0
          THEN 1
          ELSE 0
        END
      ),
      0
    ) AS "changed",
    COALESCE(
      SUM(
        CASE WHEN (
          NOT "pa" IS NULL AND NOT "pb" IS NULL
        ) AND "m0" = 1 THEN 1 ELSE 0 END
      ),
      0
    ) AS "mm0",
    COALESCE(
      SUM(
        CASE WHEN (
          NOT "pa" IS NULL AND NOT "pb" IS NULL
        ) AND "m1" = 1 THEN 1 ELSE 0 END
      ),
      0
    ) AS "mm1"
  FROM "__dp_v"
), "__dp_sm" AS (
  SELECT
    *
  FROM (
    SELECT
      1 AS "kind",
      "ak0",
      "ak1",
      "bk0",
      "bk1",
      "ac0",
      "ac1",
      "bc0",
      "bc1",
      "m0",
      "m1"
    FROM "__dp_v"
    WHERE
      "pb" IS NULL AND NOT "pa" IS NULL
    ORDER BY
      "ak0",
      "ak1"
    LIMIT 10
  ) AS "s_only_a"
  UNION ALL
  SELECT
    *
  FROM (
    SELECT
      2 AS "kind",
      "ak0",
      "ak1",
      "bk0",
      "bk1",
      "ac0",
      "ac1",
      "bc0",
      "bc1",
      "m0",
      "m1"
    FROM "__dp_v"
    WHERE
      "pa" IS NULL AND NOT "pb" IS NULL
    ORDER BY
      "bk0",
      "bk1"
    LIMIT 10
  ) AS "s_only_b"
  UNION ALL
  SELECT
    *
  FROM (
    SELECT
      3 AS "kind",
      "ak0",
      "ak1",
      "bk0",
      "bk1",
      "ac0",
      "ac1",
      "bc0",
      "bc1",
      "m0",
      "m1"
    FROM "__dp_v"
    WHERE
      (
        NOT "pa" IS NULL AND NOT "pb" IS NULL
      ) AND (
        "m0" + "m1"
      ) > 0
    ORDER BY
      "ak0",
      "ak1"
    LIMIT 10
  ) AS "s_changed"
)
SELECT
  "__dp_s"."nj",
  "__dp_s"."spa",
  "__dp_s"."spb",
  "__dp_s"."na",
  "__dp_s"."nb",
  "__dp_fs"."only_a",
  "__dp_fs"."only_b",
  "__dp_fs"."differ",
  "__dp_fs"."null_a",
  "__dp_fs"."null_b",
  "__dp_d"."dup_a",
  "__dp_d"."dup_b",
  "__dp_ok"."good",
  "__dp_vs"."changed",
  "__dp_vs"."mm0",
  "__dp_vs"."mm1",
  "__dp_sm"."kind",
  "__dp_sm"."ak0",
  "__dp_sm"."ak1",
  "__dp_sm"."bk0",
  "__dp_sm"."bk1",
  "__dp_sm"."ac0",
  "__dp_sm"."ac1",
  "__dp_sm"."bc0",
  "__dp_sm"."bc1",
  "__dp_sm"."m0",
  "__dp_sm"."m1"
FROM "__dp_s"
CROSS JOIN "__dp_fs"
CROSS JOIN "__dp_d"
CROSS JOIN "__dp_ok"
CROSS JOIN "__dp_vs"
LEFT JOIN "__dp_sm"
  ON TRUE
ORDER BY
  "__dp_sm"."kind",
  "__dp_sm"."ak0",
  "__dp_sm"."ak1",
  "__dp_sm"."bk0",
  "__dp_sm"."bk1"
