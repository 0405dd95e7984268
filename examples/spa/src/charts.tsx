import type { ReactNode } from "react";

/** A chart as a captioned figure (the caption names it for assistive technology). */
export function Chart({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <figure aria-labelledby={id} className="chart">
      <figcaption id={id}>{title}</figcaption>
      {children}
    </figure>
  );
}

/** A chart's figures as a table: what a screen reader reads, and the numbers to check. */
export function DataTable({ head, rows }: { head: string[]; rows: (string | number)[][] }) {
  return (
    <table className="chart-data">
      <thead>
        <tr>
          {head.map((label) => (
            <th key={label} scope="col">
              {label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={String(row[0])}>
            {row.map((cell, index) => (
              <td key={index}>{cell}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
