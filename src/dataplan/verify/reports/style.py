"""The inline stylesheet of the HTML diff report (no fonts, images or URLs)."""

from __future__ import annotations

CSS = """
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f3f4f6;color:#111827;line-height:1.45;font-size:14px;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  font-variant-numeric:tabular-nums}
.wrap{max-width:1320px;margin:0 auto;padding:0 28px}
.top{background:#fff;border-bottom:1px solid #e5e7eb}
.top .wrap{padding-top:24px;padding-bottom:18px}
h1{margin:0;font-size:24px;font-weight:700;letter-spacing:-.01em;overflow-wrap:anywhere}
.sides{margin:10px 0 0;display:grid;grid-template-columns:auto 1fr;gap:3px 12px;font-size:14px}
.sides .tag{font-weight:700;border-radius:4px;padding:0 7px;color:#fff;text-align:center;align-self:start}
.sides .tag.a{background:#4e79a7}.sides .tag.b{background:#f28e2b}
.sides .conn{color:#6b7280;font-size:13px}
.meta{margin:10px 0 0;color:#6b7280;font-size:13px}
.toc{display:flex;flex-wrap:wrap;gap:8px;margin:14px 0 0;padding:0;list-style:none}
.toc a{display:inline-block;padding:3px 12px;border:1px solid #d1d5db;border-radius:999px;
  color:#1f2937;text-decoration:none;font-size:13px;background:#f9fafb}
.toc a:hover{background:#eef2ff;border-color:#a5b4fc}
main{padding:18px 0 40px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.stat{flex:1 1 auto;min-width:120px;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:12px 14px;
  box-shadow:0 1px 2px rgba(16,24,40,.05)}
.stat .label{color:#6b7280;font-size:12px;text-transform:uppercase;letter-spacing:.04em;white-space:nowrap}
.stat .value{font-size:24px;font-weight:700;margin-top:2px}
.stat .sub{color:#6b7280;font-size:12.5px;white-space:nowrap}
.stat .why{color:#374151;font-size:12.5px;margin-top:4px;max-width:36em}
.stat .why code{overflow-wrap:anywhere}
.stat.outcome-pass{background:#ecfdf5;border-color:#6ee7b7}.stat.outcome-pass .value{color:#047857}
.stat.outcome-warn{background:#fffbeb;border-color:#fcd34d}.stat.outcome-warn .value{color:#b45309}
.stat.outcome-fail{background:#fef2f2;border-color:#fca5a5}.stat.outcome-fail .value{color:#b91c1c}
section.part{margin-top:26px}
h2{margin:0 0 10px;font-size:19px;font-weight:650}
h3{margin:0;font-size:15px;font-weight:650;overflow-wrap:anywhere}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px 16px;
  box-shadow:0 1px 2px rgba(16,24,40,.05);min-width:0}
.panel+.panel{margin-top:14px}
.panel>p:first-child{margin-top:0}.panel>p:last-child{margin-bottom:0}
.note{color:#6b7280;font-size:13px;margin:8px 0 0}.hint{color:#6b7280;font-style:italic}
.ok{color:#047857}.bad{color:#b91c1c;font-weight:600}.neutral{color:#4b5563}
.alert{border-left:4px solid #dc2626;background:#fef2f2}
.scroll{overflow-x:auto}
details.passes{margin-top:10px}
details.passes:first-child{margin-top:0}
details.passes>summary{cursor:pointer;color:#047857;font-weight:600;padding:4px 0}
table{border-collapse:collapse;width:auto;min-width:100%;font-size:13px}
th,td{padding:5px 10px;border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top}
th{font-weight:600;color:#374151;background:#f9fafb;white-space:nowrap}
td.n,th.n{text-align:right;white-space:nowrap}
td:last-child{min-width:12em}
tr.dim td{color:#9ca3af}
tr.moved td:first-child{box-shadow:inset 3px 0 0 #f59e0b}
td.v{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;white-space:pre}
td.v.long{white-space:pre-wrap;overflow-wrap:anywhere;min-width:300px;max-width:460px}
td.v.null{color:#9ca3af;font-style:italic}
td.va{background:#fef2f2}td.vb{background:#f0fdf4}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;
  background:#f3f4f6;padding:1px 5px;border-radius:4px}
td code{white-space:nowrap}
td code.long{white-space:normal;display:inline-block;min-width:min(16em,40vw)}
.sides code{overflow-wrap:anywhere}
.pill{display:inline-block;padding:0 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.pill.pass{background:#d1fae5;color:#065f46}.pill.warn{background:#fef3c7;color:#92400e}
.pill.fail{background:#fee2e2;color:#991b1b}.pill.muted{background:#f3f4f6;color:#4b5563}
.pill.added{background:#d1fae5;color:#065f46}.pill.removed{background:#fee2e2;color:#991b1b}
.pill.type{background:#fef3c7;color:#92400e}
.grid{display:grid;gap:14px;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));margin-top:14px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px 16px 10px;
  box-shadow:0 1px 2px rgba(16,24,40,.05);min-width:0;margin:0}
.card.shifted{border-color:#fca5a5;box-shadow:0 0 0 1px #fca5a5}
.card .stats{margin:4px 0 0;color:#374151;font-size:12.5px}
.chart{margin-top:8px;overflow-x:auto}
.chart svg{display:block;width:100%;height:auto;overflow:visible}
.card .chart svg{min-width:480px}
.chart.bars{max-width:760px}
.chart.bars svg{min-width:680px}
.method{margin:6px 0 0;color:#9ca3af;font-size:12px}
h4{margin:14px 0 6px;font-size:14px;font-weight:650}
h4:first-child{margin-top:0}
footer{color:#9ca3af;font-size:12px;padding:0 0 28px}
@media (max-width:640px){.wrap{padding:0 14px}h1{font-size:20px}.stat .sub{white-space:normal}}
@media print{body{background:#fff}.toc{display:none}.card,.panel{break-inside:avoid;box-shadow:none}}
"""
