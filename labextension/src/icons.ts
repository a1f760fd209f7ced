/**
 * Icons of the extension (drawn for ipy-oci; `jp-icon3` makes them follow
 * the theme like JupyterLab's own icons).
 */
import { LabIcon } from '@jupyterlab/ui-components';

const containersSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path fill-rule="evenodd" d="M2 5h20v14H2zM4 7v10h16V7z"/>
    <path d="M6.2 8.5h1.6v7H6.2zM9.7 8.5h1.6v7H9.7zM13.2 8.5h1.6v7h-1.6zM16.7 8.5h1.6v7h-1.6z"/>
  </g>
</svg>`;

const containerTerminalSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path fill-rule="evenodd" d="M2 4h20v16H2zM4 6v12h16V6z"/>
    <path d="M6 8.5l1.1-1.1 4.1 4.1-4.1 4.1L6 14.5l3-3zM12 14h6v1.6h-6z"/>
  </g>
</svg>`;

export const containersIcon = new LabIcon({
  name: 'ipy-oci:containers',
  svgstr: containersSvg
});

export const containerTerminalIcon = new LabIcon({
  name: 'ipy-oci:container-terminal',
  svgstr: containerTerminalSvg
});
