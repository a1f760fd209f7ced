/**
 * The side panel: containers and their exec sessions, live.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import {
  deleteIcon,
  ReactWidget,
  refreshIcon,
  runIcon,
  stopIcon,
  terminalIcon,
  launchIcon
} from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { IContainer, IExecSession, SESSION_STOP_TIMEOUT } from './api';
import { containersIcon } from './icons';
import { ContainersModel } from './model';
import {
  containerName,
  formatPort,
  formatPlacement,
  formatUsage,
  isRunningState,
  portUrl,
  shortId,
  since,
  terminalLabel
} from './util';

/** What the panel asks the application to do. */
export interface IPanelActions {
  /** Open a terminal (a new exec session) in a container. */
  openTerminal(container: IContainer): Promise<unknown>;
  /** Open a tab attached to an existing exec session. */
  attachSession(session: IExecSession, container: IContainer | undefined): Promise<unknown>;
}

/** Seconds `stop` gives the container before SIGKILL. */
export const STOP_TIMEOUT = 3;

export class ContainersPanel extends ReactWidget {
  constructor(model: ContainersModel, actions: IPanelActions) {
    super();
    this._model = model;
    this._actions = actions;
    this.id = 'ipy-oci-containers';
    this.addClass('jp-IpyOci-panel');
    this.title.icon = containersIcon;
    this.title.caption = 'Containers (ipy-oci)';
    model.changed.connect(this._onChanged, this);
  }

  get model(): ContainersModel {
    return this._model;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onChanged, this);
    this._watch?.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._watch) {
      this._watch = this._model.watch();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._watch?.dispose();
    this._watch = null;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible && !this._watch) {
      this._watch = this._model.watch();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    this._watch?.dispose();
    this._watch = null;
    super.onBeforeDetach(msg);
  }

  render(): JSX.Element {
    return (
      <PanelView
        model={this._model}
        actions={this._actions}
        showAll={this._showAll}
        onToggleAll={() => {
          this._showAll = !this._showAll;
          this.update();
        }}
      />
    );
  }

  private _onChanged(): void {
    if (this.isVisible) {
      this.update();
    }
  }

  private _model: ContainersModel;
  private _actions: IPanelActions;
  private _watch: IDisposable | null = null;
  private _showAll = true;
}

// ---- views -----------------------------------------------------------------

interface IPanelViewProps {
  model: ContainersModel;
  actions: IPanelActions;
  showAll: boolean;
  onToggleAll(): void;
}

function PanelView(props: IPanelViewProps): JSX.Element {
  const { model, showAll } = props;
  const all = model.containers;
  const shown = showAll ? all : all.filter(c => isRunningState(c.State));
  const running = all.filter(c => c.State === 'running').length;
  return (
    <div className="jp-IpyOci-panelBody">
      <div className="jp-IpyOci-panelHeader">
        <h2 className="jp-IpyOci-panelTitle">Containers</h2>
        <span className="jp-IpyOci-panelCount" title="running / all">
          {model.loaded ? `${running} / ${all.length}` : ''}
        </span>
        <span className="jp-IpyOci-spacer" />
        <label className="jp-IpyOci-showAll" title="Show stopped containers too">
          <input type="checkbox" checked={showAll} onChange={props.onToggleAll} />
          all
        </label>
        <IconButton
          icon={refreshIcon}
          title="Refresh"
          action="refresh"
          onClick={() => void model.refresh()}
        />
      </div>
      {model.error ? (
        <div className="jp-IpyOci-panelError" role="alert">
          {model.error}
        </div>
      ) : null}
      {!model.loaded ? (
        <div className="jp-IpyOci-panelEmpty">Loading…</div>
      ) : shown.length === 0 && !model.error ? (
        <div className="jp-IpyOci-panelEmpty">
          {all.length === 0
            ? 'No containers. Start one from a notebook: %oci run -d --name NAME IMAGE CMD'
            : 'No running containers.'}
        </div>
      ) : (
        <ul className="jp-IpyOci-containerList">
          {shown.map(c => (
            <ContainerItem key={c.Id} container={c} {...props} />
          ))}
        </ul>
      )}
    </div>
  );
}

interface IContainerItemProps extends IPanelViewProps {
  container: IContainer;
}

function ContainerItem(props: IContainerItemProps): JSX.Element {
  const { container: c, model, actions } = props;
  const name = containerName(c);
  const busy = model.busy(c.Id);
  const sessions = model.sessionsOf(c.Id);
  const running = c.State === 'running';
  const usage = formatUsage(c.Stats, running);
  const placement = formatPlacement(c.Slurm);
  const uptime =
    c.Status || (running ? `Up ${since(c.StartedAt)}` : c.State === 'exited' ? `Exited (${c.ExitCode ?? '?'})` : '');

  const stop = () =>
    model
      .run(c.Id, 'stopping', () => model.api.containerAction(c.Id, 'stop', STOP_TIMEOUT))
      .catch(error => showErrorMessage(`Cannot stop ${name}`, error));
  const start = () =>
    model
      .run(c.Id, 'starting', () => model.api.containerAction(c.Id, 'start'))
      .catch(error => showErrorMessage(`Cannot start ${name}`, error));
  const remove = async () => {
    const result = await showDialog({
      title: 'Remove container',
      body: `Remove the container "${name}"${isRunningState(c.State) ? ' (it is running: it will be killed)' : ''}?`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (!result.button.accept) {
      return;
    }
    await model
      .run(c.Id, 'removing', () => model.api.removeContainer(c.Id, true))
      .catch(error => showErrorMessage(`Cannot remove ${name}`, error));
  };
  const open = () =>
    model
      .run(c.Id, 'opening', () => actions.openTerminal(c))
      .catch(error => showErrorMessage(`Cannot open a terminal in ${name}`, error));

  return (
    <li
      className="jp-IpyOci-container"
      data-name={name}
      data-id={c.Id}
      data-state={c.State}
    >
      <div className="jp-IpyOci-containerRow">
        <span className="jp-IpyOci-stateDot" data-state={c.State} title={c.State} />
        <span className="jp-IpyOci-containerName" title={`${name} (${shortId(c.Id)})`}>
          {name}
        </span>
        <span className="jp-IpyOci-containerState" data-state={c.State}>
          {busy ?? c.State}
        </span>
        <span className="jp-IpyOci-spacer" />
        <IconButton
          icon={terminalIcon}
          title="Open a terminal (sh)"
          action="terminal"
          disabled={!running || !!busy}
          onClick={open}
        />
        {isRunningState(c.State) ? (
          <IconButton
            icon={stopIcon}
            title="Stop"
            action="stop"
            disabled={!!busy || c.State === 'stopping'}
            onClick={stop}
          />
        ) : (
          <IconButton
            icon={runIcon}
            title="Start"
            action="start"
            disabled={!!busy}
            onClick={start}
          />
        )}
        <IconButton
          icon={deleteIcon}
          title="Remove"
          action="remove"
          disabled={!!busy}
          onClick={() => void remove()}
        />
      </div>
      <div className="jp-IpyOci-containerMeta">
        <span className="jp-IpyOci-containerImage" title={c.Image}>
          {c.Image}
        </span>
        {placement ? (
          <span
            className="jp-IpyOci-containerPlacement"
            title={`Slurm job ${c.Slurm?.JobId} on node ${c.Slurm?.Node || '(pending)'}, partition ${c.Slurm?.Partition || '?'}`}
          >
            {placement}
          </span>
        ) : null}
        {usage ? (
          <span
            className="jp-IpyOci-containerUsage"
            title={usage === 'n/a' ? 'no cgroup: usage is not available (rootless on cgroup v1)' : 'CPU · memory'}
          >
            {usage}
          </span>
        ) : null}
        <span className="jp-IpyOci-containerUptime">{uptime}</span>
      </div>
      {c.Ports && c.Ports.length ? (
        <div className="jp-IpyOci-containerMeta jp-IpyOci-containerPorts">
          {c.Ports.map(p => {
            const text = formatPort(p);
            const url = portUrl(p);
            return url && running ? (
              <a
                key={text}
                className="jp-IpyOci-containerPort"
                href={url}
                target="_blank"
                rel="noopener noreferrer"
                title={`Open ${url}`}
              >
                {text}
              </a>
            ) : (
              <code key={text} className="jp-IpyOci-containerPort">
                {text}
              </code>
            );
          })}
        </div>
      ) : null}
      {sessions.length ? (
        <ul className="jp-IpyOci-sessionList">
          {sessions.map(s => (
            <SessionItem key={s.ID} session={s} {...props} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

interface ISessionItemProps extends IContainerItemProps {
  session: IExecSession;
}

function SessionItem(props: ISessionItemProps): JSX.Element {
  const { session: s, container, model, actions } = props;
  const pc = s.ProcessConfig ?? {};
  const command = [pc.entrypoint ?? '', ...(pc.arguments ?? [])].filter(Boolean);
  const busy = model.busy(s.ID);
  const alive = s.State === 'running' || s.State === 'created';
  let detail: string;
  if (s.State === 'running') {
    detail = since(s.StartedAt) ? `up ${since(s.StartedAt)}` : 'running';
  } else if (s.State === 'stopped') {
    detail = `exited ${s.ExitCode ?? '?'}`;
  } else {
    detail = s.State;
  }
  const owner = s.Owner?.Kernel
    ? `kernel ${s.Owner.Kernel.slice(0, 8)}`
    : s.Owner?.Pid
      ? `pid ${s.Owner.Pid}`
      : '';
  const stop = () =>
    model
      .run(s.ID, 'stopping', () => model.api.stopExec(s.ID, SESSION_STOP_TIMEOUT))
      .catch(error => showErrorMessage('Cannot stop the session', error));
  const attach = () =>
    actions
      .attachSession(s, container)
      .catch(error => showErrorMessage('Cannot attach', error));
  return (
    <li className="jp-IpyOci-session" data-session-id={s.ID} data-state={s.State}>
      <span className="jp-IpyOci-stateDot" data-state={s.State === 'stopped' ? 'exited' : s.State} />
      <code className="jp-IpyOci-sessionCommand" title={`exec ${shortId(s.ID)}${pc.tty ? ' (tty)' : ''}`}>
        {terminalLabel(undefined, command)}
      </code>
      <span className="jp-IpyOci-sessionDetail">{busy ?? detail}</span>
      {owner ? <span className="jp-IpyOci-sessionOwner">{owner}</span> : null}
      <span className="jp-IpyOci-spacer" />
      <IconButton
        icon={launchIcon}
        title="Attach in a tab"
        action="attach"
        disabled={!alive || !pc.tty}
        onClick={() => void attach()}
      />
      <IconButton
        icon={stopIcon}
        title="Stop session"
        action="stop-session"
        disabled={!alive || !!busy}
        onClick={() => void stop()}
      />
    </li>
  );
}

interface IIconButtonProps {
  icon: typeof refreshIcon;
  title: string;
  action: string;
  disabled?: boolean;
  onClick(): void;
}

function IconButton(props: IIconButtonProps): JSX.Element {
  return (
    <button
      type="button"
      className="jp-IpyOci-iconButton"
      title={props.title}
      aria-label={props.title}
      data-action={props.action}
      disabled={props.disabled}
      onClick={event => {
        event.stopPropagation();
        props.onClick();
      }}
    >
      <props.icon.react tag="span" elementSize="normal" />
    </button>
  );
}
