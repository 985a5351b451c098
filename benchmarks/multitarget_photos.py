"""One target or two, on real photos: does also predicting `gender` help a small CNN with a photo's `articleType`?

    python benchmarks/multitarget_photos.py [--path FOLDER] [--n_classes 10] [--n_per 300] [--seeds 10]
                                            [--epochs 4,20] [--bs 64] [--out PATH] [--plot_to PATH] [--quiet] [--plot_only]

Data: Fashion Product Images (Small) (`course_helpers.fashion`: 44,441 product photos of 80 x 60 pixels), found by
`fashion_path` (or `--path`); a fixed subset (`fashion_subset`: `--n_per` photos of each of the `--n_classes` commonest
article types, drawn with seed 0), squished to 40 x 30 pixels, 20% held out (`fashion_dls`, split seed 42; the same
photos are validated whatever the targets).

Second target: `gender` (Men, Women, Unisex, Boys, Girls). It is a property of the product that the photo shows through
its cut and shape, as Paddy's variety is one of the plant, and it depends on the type without being fixed by it
(Cramér's V about 0.4 on the subset: a T-shirt can be a man's or a woman's, heels are a woman's), so a model that must
tell it has to look at the shapes that also tell the type. `baseColour` was not chosen: its 46 names overlap (Navy Blue
and Blue, Grey and Grey Melange) and a colour is read from the average pixel, which teaches little about shape.

For each seed and each training length (`--epochs`, `fit_one_cycle` at lr 1e-2), the project's own pieces train the
same small CNN (`paddy_cnn` through `paddy_learner`, its `MultiTargetLoss` and per-target error metrics) twice: with
`articleType` alone, and with `articleType` and `gender` (equal weights). Both runs of a seed start from the same
seed. Each run's validation and training error of `articleType` (the training error over the training set in eval
mode, to show how far the model overfits), its validation `articleType` loss and its `gender` error are written.

Prints the majority-class baseline of each target beside the errors, and per training length: mean error of each
model, the mean paired difference (two targets minus one), its SD over seeds and the standard error of its mean over
seeds (`diff_sem`, the training noise), and the standard error that the sample of validation photos adds
(`se_photos`, about sqrt(b)/n for the b photos exactly one model of a pair types right, out of n).
Writes the runs, the summary and, for one two-target model (the first seed, the longest training), the first layer's
weights and the head's mean activations per article type (aggregates, no photo or row) to `--out` (default
benchmarks/results/multitarget_photos.json) and a plot to `--plot_to` (default benchmarks/results/multitarget_photos.png);
`--plot_only` redraws the plot from the results file without training.
About 6 minutes of one CPU core with the defaults (one PyTorch thread: two cores shared with other work gain little);
the results file records the wall-clock and CPU seconds of its run.
"""
import io, json, platform, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # this checkout's course_helpers, installed or not
import course_helpers  # first: hides fastai's torch.jit.script FutureWarning
import numpy as np, pandas as pd, torch
from fastcore.script import call_parse
from course_helpers.checks import check_count, check_count_list
from course_helpers.files import atomic_write
from course_helpers.fashion import fashion_path, check_fashion, fashion_subset, fashion_dls
from fastcore.basics import tuplify
from course_helpers.multitarget import cache_items, fit_paddy, target_baselines, target_vocabs
from course_helpers.paddy import cramers_v

RESULTS = ROOT/'results'
TARGETS = {'one': ('articleType',), 'two': ('articleType', 'gender')}

def run(dls, epochs:int, seed:int)->tuple:
    "Train one model on `dls`; its errors, which validation photos it types right, and the learner."
    learn = fit_paddy(dls, epochs=epochs, lr=1e-2, seed=seed, quiet=True)
    with learn.no_bar():
        val, trn = learn.validate(), learn.validate(ds_idx=0)
        p, t = learn.get_preds(dl=dls.valid)
    right = p[:, :len(target_vocabs(dls)[0])].argmax(1) == tuplify(t)[0]
    names = ['loss', *learn.metrics.attrgot('name')]
    val, trn = dict(zip(names, val)), dict(zip(names, trn))
    res = dict(type_err=val['articleType_err'], type_loss=val['articleType_loss'], train_type_err=trn['articleType_err'])
    if 'gender_err' in val: res['gender_err'] = val['gender_err']
    return res, right, learn

def summarise(runs:pd.DataFrame, n_valid:int)->pd.DataFrame:
    "Per training length: mean error of each model, the paired difference's mean, SD and standard error over seeds and over photos."
    w = runs.pivot_table(index=['epochs', 'seed'], columns='targets', values='type_err')
    d = (w['two'] - w['one']).groupby('epochs')
    g = runs.groupby(['epochs', 'targets'])
    b = runs[runs.targets == 'two'].groupby('epochs').only_one_right.mean()  # photos exactly one of a seed's pair types right
    return pd.DataFrame(dict(one_err=w['one'].groupby('epochs').mean(), two_err=w['two'].groupby('epochs').mean(),
                             diff=d.mean(), diff_sd=d.std(), diff_sem=d.std()/np.sqrt(d.count()), seeds=d.count(),
                             only_one_right=b, se_photos=np.sqrt(b)/n_valid,
                             two_better=(w['two'] < w['one']).groupby('epochs').sum(),
                             one_train_err=g.train_type_err.mean().xs('one', level='targets'),
                             two_train_err=g.train_type_err.mean().xs('two', level='targets'),
                             gender_err=runs[runs.targets=='two'].groupby('epochs').gender_err.mean()))

def head_means(learn, dls)->dict:
    "The head's mean activations for the validation photos of each article type (an aggregate, no single photo)."
    with learn.no_bar(): acts, targs = learn.get_preds(dl=dls.valid, act=lambda o: o)
    vocab = list(dls.vocab[0])
    m = [acts[targs[0] == i].mean(0).tolist() for i in range(len(vocab))]
    return dict(classes=vocab, outputs=[*vocab, *dls.vocab[1]], split=len(vocab), mean_acts=m)

def plot(runs:pd.DataFrame, summ:pd.DataFrame, base:dict, fname:Path):
    "Validation error of each seed's pair of models at each training length; the paired differences with both standard errors."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    w = runs.pivot_table(index=['epochs', 'seed'], columns='targets', values='type_err')
    eps = sorted(runs.epochs.unique())
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.6))
    for k, e in enumerate(eps):
        x = w.loc[e]
        for s, r in x.iterrows(): axs[0].plot([2*k, 2*k+0.8], [r.one, r.two], color='grey', alpha=0.5, lw=1)
        axs[0].errorbar([2*k, 2*k+0.8], [x.one.mean(), x.two.mean()], [x.one.sem(), x.two.sem()], fmt='o', color='C3', capsize=3)
    axs[0].set_xticks([v for k in range(len(eps)) for v in (2*k, 2*k+0.8)],
                      [f'{t}\n{e} ep' for e in eps for t in ('type', 'type+gender')], fontsize=8)
    axs[0].set_ylabel('articleType validation error'); axs[0].set_title('each seed (grey), mean ± SEM (red)', fontsize=9)
    d = (w.two - w.one)
    for k, e in enumerate(eps):
        axs[1].scatter(np.full(len(d.loc[e]), k) + np.linspace(-0.1, 0.1, len(d.loc[e])), d.loc[e], color='grey', s=12)
        axs[1].errorbar([k + 0.25], [d.loc[e].mean()], [np.hypot(summ.diff_sem[e], summ.se_photos[e])], fmt='none', color='C0', capsize=3, lw=3, alpha=.4)
        axs[1].errorbar([k + 0.25], [d.loc[e].mean()], [d.loc[e].sem()], fmt='o', color='C3', capsize=3)
    axs[1].axhline(0, color='k', lw=0.8)
    axs[1].set_xticks(range(len(eps)), [f'{e} epochs' for e in eps]); axs[1].set_xlim(-0.5, len(eps) - 0.5)
    axs[1].set_ylabel('two targets minus one (< 0: gender helps)')
    axs[1].set_title('paired difference: ± SEM over seeds (red),\nwith the validation photos\' sampling error too (blue)', fontsize=9)
    fig.suptitle(f"Fashion photos: majority-class error {base['articleType']:.3f} (type), {base['gender']:.3f} (gender)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO(); fig.savefig(buf, format='png', dpi=90)
    plt.close(fig)
    atomic_write(fname, buf.getvalue())  # a run killed while writing leaves the old plot, not half a new one

@call_parse
def main(path:str=None,                # the photos' folder (Kaggle layout); default: `fashion_path()`
         n_classes:int=10,             # article types kept (the commonest)
         n_per:int=300,                # photos of each article type
         seeds:int=10,                 # seeds 0, 1, ... for each model and training length
         epochs:str='4,20',            # training lengths (epochs), comma-separated
         bs:int=64,                    # batch size
         out:str=str(RESULTS/'multitarget_photos.json'), # results file
         plot_to:str=str(RESULTS/'multitarget_photos.png'), # plot file
         quiet:bool=False,             # no line per run
         plot_only:bool=False,         # only redraw the plot from the results file `out`
        ):
    "Train one target against two over seeds and training lengths; print and write the errors with their spread."
    if plot_only:
        res = json.loads(Path(out).read_text())
        runs, summ = pd.DataFrame(res['runs']), pd.DataFrame(res['summary']).set_index('epochs')
        plot(runs, summ, {k: v['majority_err'] for k, v in res['baselines'].items()}, Path(plot_to))
        return res
    n_classes, n_per, seeds = check_count(n_classes, 'n_classes', min=2), check_count(n_per, 'n_per', min=5), check_count(seeds, 'seeds', min=2)
    eps, bs = check_count_list(epochs, 'epochs'), check_count(bs, 'bs')
    torch.set_num_threads(1)
    t0 = time.time()
    df = check_fashion(fashion_path(path), cols=TARGETS['two'])
    sub = fashion_subset(df, n_classes=n_classes, n_per=n_per)
    dls = {k: cache_items(fashion_dls(sub, cols=c, bs=bs)) for k, c in TARGETS.items()}
    bl = target_baselines(dls['two'])
    base = bl.majority_err.to_dict()
    v = cramers_v(pd.crosstab(sub.articleType, sub.gender))
    print(f"{len(sub)} photos ({len(dls['two'].train_ds)} train, {len(dls['two'].valid_ds)} valid); majority-class validation error: "
          f"articleType {base['articleType']:.3f}, gender {base['gender']:.3f}; Cramér's V (type, gender) {v:.2f}")
    runs, extra, cpu0 = [], {}, time.process_time()
    for e in eps:
        for s in range(seeds):
            rights = {}
            for k in TARGETS:
                res, rights[k], learn = run(dls[k], e, s)
                runs.append(dict(epochs=e, seed=s, targets=k, **res))
                if k == 'two': runs[-1]['only_one_right'] = runs[-2]['only_one_right'] = int((rights['one'] != rights['two']).sum())
                if not quiet: print(f"{e:3d} epochs seed {s} {k}: articleType err {res['type_err']:.3f} (majority {base['articleType']:.3f}, "
                                    f"train {res['train_type_err']:.3f})" + (f", gender err {res['gender_err']:.3f} (majority {base['gender']:.3f})" if k == 'two' else ''), flush=True)
                if k == 'two' and s == 0 and e == max(eps):
                    extra = dict(stem_weights=learn.model[0][0][0].weight.detach().tolist(), head=head_means(learn, dls[k]))
    runs = pd.DataFrame(runs)
    summ = summarise(runs, len(dls['two'].valid_ds))
    print(summ.round(4).to_string())
    res = dict(config=dict(n_classes=n_classes, n_per=n_per, seeds=seeds, epochs=eps, bs=bs, size=[40, 30], lr=1e-2, valid_pct=0.2,
                           n_photos=len(sub), n_train=len(dls['two'].train_ds), n_valid=len(dls['two'].valid_ds),
                           classes=list(dls['two'].vocab[0]), genders=list(dls['two'].vocab[1])),
               machine=f"{platform.processor() or platform.machine()}, 1 PyTorch thread", seconds=round(time.time() - t0, 1),
               cpu_seconds=round(time.process_time() - cpu0, 1),
               baselines=bl.round(4).to_dict(orient='index'), cramers_v=round(v, 4),
               summary=summ.reset_index().round(5).to_dict(orient='records'), runs=runs.round(5).to_dict(orient='records'), **extra)
    atomic_write(out, json.dumps(res, indent=1))
    plot(runs, summ, base, Path(plot_to))
    print(f"wrote {out} and {plot_to} in {res['seconds']:.0f} s")
    return res
